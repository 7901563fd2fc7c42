"""``manage.py add_workspace_member <workspace> <username> [--role owner|member] [--default] [--remove]``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from services_app.models import Membership, Workspace
from services_app.workspaces import workspace_add_member


class Command(BaseCommand):
    help = "Add a user to a workspace (or change their role, make it their default, or remove them)."

    def add_arguments(self, parser):
        parser.add_argument("workspace", help="the workspace's slug")
        parser.add_argument("username")
        parser.add_argument("--role", choices=[r.value for r in Membership.Role], default=Membership.Role.MEMBER)
        parser.add_argument("--default", action="store_true", help="make it the workspace requests use by default")
        parser.add_argument("--remove", action="store_true", help="remove the user from the workspace instead")

    def handle(self, *args, workspace, username, role, default, remove, **opts):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"no workspace {workspace!r} (create it with create_workspace)")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if remove:
            deleted, _ = Membership.objects.filter(workspace=found, user=user).delete()
            self.stdout.write(f"{username} removed from {workspace}" if deleted else f"{username} was not a member")
            return
        membership = workspace_add_member(workspace=found, user=user, role=role, default=default)
        self.stdout.write(
            f"{username} is {membership.role} of {workspace}" + (" (default)" if membership.is_default else "")
        )
