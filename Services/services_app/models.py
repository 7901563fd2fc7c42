"""Database models: workspaces and their members, the Job (source of truth for
every long operation), API keys, and the worker heartbeats that `/api/health`
reports."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Workspace(models.Model):
    """Where data lives and who may touch it: every location, upload, dataset, knowledge base, model,
    report and job belongs to one workspace; its members (and staff) reach it, nobody else.

    Its files are under ``<data root>/workspaces/<slug>/`` (``folder`` overrides that, relative to the
    data root; the empty folder is the data root itself, for the workspace existing data was migrated
    into, which never sees the ``workspaces/`` folder). ``buckets`` are the gs:// buckets it may name
    (each must also be on GCS_ALLOWED_BUCKETS)."""

    slug = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(SLUG_PATTERN, "lower-case letters, digits and dashes, at most 63")],
    )
    name = models.CharField(max_length=200, blank=True, default="")
    folder = models.CharField(
        max_length=255, blank=True, default="", help_text="relative to the data root; empty for the data root"
    )
    buckets = models.JSONField(default=list, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MEMBER = "member"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # The workspace a request uses when it names none (one per user).
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user_and_workspace"),
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(is_default=True), name="one_default_workspace_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    queue = models.CharField(max_length=32, default="default")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="jobs", null=True)
    # Seconds; None: the kind's limit.
    time_limit = models.PositiveIntegerField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    # [{"location": ..., "sha256" | "fingerprint": ...}]
    inputs = models.JSONField(default=list, blank=True)
    outputs = models.JSONField(default=list, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    # sha256 of kind, params and input hashes: an identical succeeded job is
    # reused unless the caller forces a rerun.
    fingerprint = models.CharField(max_length=64, db_index=True, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=255, blank=True, default="")
    # A batch of a fanned-out job (a folder conversion split across workers) points at the
    # job it belongs to; the parent's result and manifest cover all of its batches.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="batches")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "kind", "status"]), models.Index(fields=["workspace", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


def _hash_key(raw: str) -> str:
    # Keys are 256-bit random tokens, so a plain sha256 is enough: there is
    # nothing to brute-force that a slow password hash would protect.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    PREFIX_LEN = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LEN, db_index=True)
    hashed_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) for {self.user}"

    @classmethod
    def issue(cls, *, user, name: str) -> tuple[ApiKey, str]:
        """Create a key; the plain key is returned once and never stored."""
        raw = "svc_" + secrets.token_urlsafe(32)
        key = cls.objects.create(user=user, name=name, prefix=raw[: cls.PREFIX_LEN], hashed_key=_hash_key(raw))
        return key, raw

    @classmethod
    def lookup(cls, raw: str) -> ApiKey | None:
        if not raw:
            return None
        return cls.objects.select_related("user").filter(hashed_key=_hash_key(raw), revoked=False).first()


class WorkerHeartbeat(models.Model):
    """Written by every worker every few seconds; read by `/api/health`.

    Kept in the database so health works with any broker, including the
    embedded one, which cannot broadcast control messages."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.JSONField(default=list)
    pid = models.IntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname} ({', '.join(self.queues)})"


class TrainingRun(models.Model):
    """A training run logged by the Python client: its uploaded files, then the job that computes
    per-sample signals (see `capabilities/training_runs`).

    ``files`` holds what the client declared and how much of each the server has:
    ``[{"name", "size", "sha256", "received"}]``; an upload resumes from ``received``."""

    class Status(models.TextChoices):
        UPLOADING = "uploading"
        SUBMITTED = "submitted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_runs")
    project = models.CharField(max_length=100, db_index=True)
    name = models.CharField(max_length=100)
    task_type = models.CharField(max_length=32)
    labels = models.JSONField(default=list)
    manifest = models.JSONField(default=dict, blank=True)
    files = models.JSONField(default=list, blank=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADING)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.project}/{self.name} ({self.id})"
