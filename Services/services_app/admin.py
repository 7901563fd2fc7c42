from django.contrib import admin

from .models import ApiKey, Job, Membership, WorkerHeartbeat, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ("user",)
    fields = ("user", "role", "is_default", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "folder", "buckets", "member_count", "created_at")
    search_fields = ("slug", "name", "memberships__user__username")
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # Moving a workspace's folder would orphan its files: set it when creating, move files by hand.
        return ("folder", "created_at") if obj else ("created_at",)

    def save_model(self, request, obj, form, change):
        if not change and not obj.folder:
            obj.folder = f"workspaces/{obj.slug}"
        super().save_model(request, obj, form, change)

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.memberships.count()


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "owner", "workspace", "progress", "attempts", "created_at", "finished_at")
    list_filter = ("kind", "status", "queue", "workspace")
    search_fields = ("id", "kind", "owner__username", "workspace__slug")
    readonly_fields = [f.name for f in Job._meta.fields]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    readonly_fields = ("prefix", "hashed_key", "created_at", "last_used_at")
    fields = ("user", "name", "revoked", "prefix", "hashed_key", "created_at", "last_used_at")

    def has_add_permission(self, request):
        # The plain key must be shown once to its owner: use `manage.py create_api_key`.
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "queues", "pid", "started_at", "last_seen")
