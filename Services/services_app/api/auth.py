"""API key authentication: header ``X-API-Key``, keys stored hashed."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from ninja.security import APIKeyHeader

from ..models import ApiKey


class ApiKeyAuth(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request, key):
        api_key = ApiKey.lookup(key or "")
        if api_key is None or not api_key.user.is_active:
            return None
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        request.user = api_key.user
        request.api_key = api_key
        return api_key.user
