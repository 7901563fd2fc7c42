from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from services_app.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for a user (created if missing) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--user", default="local", help="username (created if it does not exist)")
        parser.add_argument("--name", default="cli", help="a label for the key")
        parser.add_argument("--staff", action="store_true", help="make a newly created user staff")
        parser.add_argument(
            "--workspace",
            help="add the user to this workspace (its default when they have none); `make run` uses the "
            "workspace `default`, whose folder is the data root itself",
        )
        parser.add_argument(
            "--key-file",
            help="keep the plain key in this file (mode 600) and reuse it while it is valid: "
            "for a local installation, so `make run` can print the same key every time",
        )

    def handle(self, *args, user, name, staff, key_file, workspace=None, **opts):
        User = get_user_model()
        account, created = User.objects.get_or_create(username=user, defaults={"is_staff": staff})
        if created:
            account.set_unusable_password()
            account.save()
        if workspace:
            from services_app.models import Workspace
            from services_app.workspaces import workspace_add_member

            found = Workspace.objects.filter(slug=workspace).first()
            if found is None:
                raise CommandError(f"no workspace {workspace!r} (create it with create_workspace)")
            if not found.memberships.filter(user=account).exists():
                workspace_add_member(workspace=found, user=account)
        if key_file:
            path = Path(key_file)
            if path.exists():
                raw = path.read_text().strip()
                found = ApiKey.lookup(raw)
                if found is not None and found.user_id == account.id:
                    self.stdout.write(raw)
                    return
        key, raw = ApiKey.issue(user=account, name=name)
        if key_file:
            path = Path(key_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(raw + "\n")
            path.chmod(0o600)
        if not raw:
            raise CommandError("could not create a key")
        self.stdout.write(raw)
