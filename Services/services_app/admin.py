from django.contrib import admin

from .models import ApiKey, Job, WorkerHeartbeat


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "owner", "progress", "attempts", "created_at", "finished_at")
    list_filter = ("kind", "status", "queue")
    search_fields = ("id", "kind", "owner__username")
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
