"""Print a one-time login link for the web app.

The link holds Django's password-reset token for the user: it stops working
once used (logging in changes ``last_login``, which the token covers), when
the password changes, or after ``PASSWORD_RESET_TIMEOUT`` (3 days). A user
without a password is asked to set one after following it.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode


class Command(BaseCommand):
    help = "Print a one-time login link for the web app (the user is created if missing)."

    def add_arguments(self, parser):
        parser.add_argument("--user", default="local", help="username (created if it does not exist)")
        parser.add_argument("--staff", action="store_true", help="make a newly created user staff")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the web app is served")

    def handle(self, *args, user, staff, base_url, **opts):
        User = get_user_model()
        account, created = User.objects.get_or_create(username=user, defaults={"is_staff": staff})
        if created:
            account.set_unusable_password()
            account.save()
        if not account.is_active:
            raise CommandError(f"user {user!r} is not active")
        uid = urlsafe_base64_encode(force_bytes(account.pk))
        token = default_token_generator.make_token(account)
        self.stdout.write(base_url.rstrip("/") + reverse("web:login_link", args=[uid, token]))
