"""Docker cannot run here: lint the Dockerfiles, validate the compose file
against the Compose specification, and check the repo hygiene rules."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_dockerfiles_pass_hadolint(dockerfile):
    out = _run(str(BIN / "hadolint"), dockerfile)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_file_follows_the_compose_specification():
    out = _run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_has_the_services_and_a_gpu_profile_without_credentials():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "gpu-worker", "redis", "postgres"} <= set(services)
    assert services["gpu-worker"]["profiles"] == ["gpu"]
    devices = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    text = (REPO / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:?" in text  # a password must come from the environment, never from the file


def test_images_run_as_non_root():
    for name in ("Dockerfile", "Dockerfile.gpu"):
        users = [line for line in (REPO / name).read_text().splitlines() if line.startswith("USER ")]
        assert users and users[-1].split()[1] not in ("root", "0", "0:0")


def test_no_credentials_in_the_repo():
    tracked = _run("git", "ls-files").stdout.split()
    assert ".env" not in tracked and ".dvc/config.local" not in tracked
    assert ".env.example" in tracked or not (REPO / ".env.example").exists()
    ignored = (REPO / ".gitignore").read_text().split()
    assert ".env" in ignored and ".dvc/config.local" in ignored


def test_ci_entry_point_calls_make_test():
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_workflows_pass_actionlint():
    out = _run(str(BIN / "actionlint"), "-no-color")
    assert out.returncode == 0, out.stdout + out.stderr


def test_precommit_config_has_ruff_and_hygiene_hooks():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"] for repo in config["repos"] for h in repo["hooks"]}
    assert {
        "ruff-check",
        "ruff-format",
        "detect-private-key",
        "check-added-large-files",
        "check-merge-conflict",
    } <= hooks


def test_code_passes_ruff_lint_and_format():
    lint = _run(str(BIN / "ruff"), "check", "--no-cache", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run(str(BIN / "ruff"), "format", "--check", "--no-cache", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_a_missing_browser_fails_under_ci_instead_of_skipping(tmp_path):
    """`require_chromium` (every browser test goes through it) skips locally but fails under CI=true."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import tests.conftest as c\n"
        "def test_browser(monkeypatch):\n"
        "    monkeypatch.setattr(c, 'CHROMIUM', '/nonexistent/chromium')\n"
        "    c.require_chromium()\n"
    )
    results = {}
    for ci in ("", "true"):
        env = {k: v for k, v in os.environ.items() if k != "CI"} | {"CI": ci}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(probe), "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
            cwd=REPO / "Services",
            env=env | {"PYTHONPATH": str(REPO / "Services"), "DJANGO_SETTINGS_MODULE": "services_project.settings"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        results[ci] = (proc.returncode, proc.stdout)
    assert results[""][0] == 0 and "1 skipped" in results[""][1], results[""]
    assert results["true"][0] == 1 and "CI needs a real browser" in results["true"][1], results["true"]


def test_ci_workflow_installs_debians_chromium():
    """The browser tests need /usr/bin/chromium, which Debian's `chromium` package provides: the test job
    runs in a Debian container and installs it (not Ubuntu's chromium-browser snap stub)."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yaml").read_text())
    job = workflow["jobs"]["test"]
    assert job["container"] == "python:3.11-bookworm"
    steps = "\n".join(step.get("run", "") for step in job["steps"])
    assert "apt-get install" in steps and " chromium " in steps and "chromium-browser" not in steps
    assert "test -x /usr/bin/chromium" in steps
    assert job["env"]["CI"] == "true"
