"""Production settings come from the environment: `check --deploy` is clean with production values, and the
admin login is throttled (django-axes)."""

from __future__ import annotations

import os
import subprocess
import sys
from http import HTTPStatus

import pytest

from tests.conftest import SERVICES_DIR

PRODUCTION = {
    "DJANGO_SECURE": "true",
    "DJANGO_SECRET_KEY": "prod-" + "x7Gq2LmZ9vT4pRkW8sNbY3cHfJ6dA1eU5oIiQwErTyUiOpAsDfGhJkLzXcVbNm",
    "DJANGO_ALLOWED_HOSTS": "services.example.com",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
}


def _check_deploy(tmp_path, extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(SERVICES_VAR_DIR=str(tmp_path / "var"), **extra)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=SERVICES_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_values(tmp_path):
    done = _check_deploy(tmp_path, PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_names_what_is_missing_without_them(tmp_path):
    done = _check_deploy(tmp_path, {"DJANGO_ALLOWED_HOSTS": "services.example.com"})
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stdout + done.stderr


def test_each_setting_can_be_set_on_its_own(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        SERVICES_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SECURE="true",
        DJANGO_SECURE_HSTS_SECONDS="600",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_PROXY_SSL_HEADER="true",
        DJANGO_SETTINGS_MODULE="services_project.settings",
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=SERVICES_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["600", "False", "True", "True", "('HTTP_X_FORWARDED_PROTO',", "'https')"], done


@pytest.mark.django_db
def test_admin_login_is_locked_after_repeated_failures(client, django_user_model, settings):
    django_user_model.objects.create_superuser(username="root", password="right-horse-battery", email="r@x.org")
    url = "/admin/login/?next=/admin/"
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        r = client.post(url, {"username": "root", "password": "wrong"})
        assert r.status_code == HTTPStatus.OK  # the form again, with an error
    r = client.post(url, {"username": "root", "password": "wrong"})
    assert r.status_code == HTTPStatus.TOO_MANY_REQUESTS  # the last allowed failure locks the account out
    r = client.post(url, {"username": "root", "password": "right-horse-battery"})
    assert r.status_code == HTTPStatus.TOO_MANY_REQUESTS  # locked out, even with the right password
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("prefix", ["préfixe✓:", "*", "[x", "with space"])
def test_a_redis_key_prefix_the_broker_cannot_use_is_refused_at_start(tmp_path, prefix):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(SERVICES_VAR_DIR=str(tmp_path / "var"), REDIS_KEY_PREFIX=prefix)
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=SERVICES_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "REDIS_KEY_PREFIX" in done.stderr and "may hold only ASCII letters, digits and . _ : -" in done.stderr
