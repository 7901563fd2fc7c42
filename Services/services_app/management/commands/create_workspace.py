"""``manage.py create_workspace <slug> [--name ...] [--bucket b ...] [--member user ...]``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from services_app.errors import ServiceError
from services_app.models import Membership
from services_app.workspaces import workspace_add_member, workspace_create, workspace_root


class Command(BaseCommand):
    help = (
        "Create a workspace (its folder is <data root>/workspaces/<slug>/) and optionally add members. "
        "Members reach its data; nobody else does (staff reach every workspace)."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="lower-case letters, digits and dashes, e.g. esg-team")
        parser.add_argument("--name", default="", help="a readable name")
        parser.add_argument(
            "--bucket",
            action="append",
            default=[],
            help="a gs:// bucket the workspace may use (repeat; must also be on GCS_ALLOWED_BUCKETS)",
        )
        parser.add_argument("--owner", action="append", default=[], help="username to add as owner (repeat)")
        parser.add_argument("--member", action="append", default=[], help="username to add as member (repeat)")

    def handle(self, *args, slug, name, bucket, owner, member, **opts):
        User = get_user_model()
        users = {}
        for username in [*owner, *member]:
            found = User.objects.filter(username=username).first()
            if found is None:
                raise CommandError(f"no user {username!r}")
            users[username] = found
        try:
            workspace = workspace_create(slug=slug, name=name, buckets=bucket)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        for username in owner:
            workspace_add_member(workspace=workspace, user=users[username], role=Membership.Role.OWNER)
        for username in member:
            workspace_add_member(workspace=workspace, user=users[username], role=Membership.Role.MEMBER)
        self.stdout.write(f"workspace {workspace.slug} at {workspace_root(workspace)}")
