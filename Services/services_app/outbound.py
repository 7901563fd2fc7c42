"""The outbound request guard: every HTTP request the platform makes for a user goes through here.

A user can name a URL (the ``url`` connector, Oekobaudat's ``base_url``) and an
operator can name an endpoint (``OPENAI_BASE_URL``). Without a guard, a user
could make the server fetch its own loopback services, the cloud metadata
endpoint (``169.254.169.254``) or anything on the private network and read the
answer back through a preview (server-side request forgery, OWASP A10).

The rule, checked on the first request and again on every redirect hop, after
DNS resolution:

- the scheme is ``http`` or ``https``;
- every address the host name resolves to is a public unicast address: not
  loopback, private (RFC 1918, RFC 6598 shared), link-local (169.254/16,
  fe80::/10), unique-local (fc00::/7), multicast, reserved, unspecified, or an
  IPv4-mapped form of one of those;
- unless the host (name or literal address, optionally ``host:port``) is on the
  operator's allow list ``SERVICES_OUTBOUND_ALLOW_HOSTS`` (Django setting, or
  the environment variable of that name for code that runs without Django).

The check runs inside the httpx transport, so redirects (followed by httpx)
pass through it hop by hop. What it cannot stop: a name that resolves to a
public address at check time and to a private one a moment later (DNS
rebinding within the resolver's cache time); pin egress with a firewall where
that matters.

Kept free of Django imports at module level: job functions use it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

import httpx

from .errors import ServiceError

ALLOW_SETTING = "SERVICES_OUTBOUND_ALLOW_HOSTS"


def allowed_hosts() -> set[str]:
    """The operator's allow list (lower-case host names, addresses or ``host:port``)."""
    raw: list[str] | None = None
    try:
        from django.conf import settings

        if settings.configured:
            raw = list(getattr(settings, ALLOW_SETTING, []) or [])
    except ImportError:  # pragma: no cover - Django is always installed with the platform
        raw = None
    if raw is None:
        raw = [h for h in os.environ.get(ALLOW_SETTING, "").split(",")]
    return {h.strip().lower() for h in raw if h and h.strip()}


def _blocked_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _blocked_reason(ip.ipv4_mapped)
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives here)"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"):
        return "unique-local"
    if ip in ipaddress.ip_network("100.64.0.0/10"):
        return "shared address space (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ServiceError(
            f"the host {host!r} cannot be resolved ({exc}); check the URL", code="host_unresolvable", status=400
        ) from None
    return sorted({info[4][0].split("%")[0] for info in infos})


def check_url(url: str) -> None:
    """Raise a 403 ``outbound_blocked`` unless ``url`` may be fetched (see the module docstring)."""
    parts = urlsplit(str(url))
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise ServiceError(
            f"only http and https URLs can be fetched, not {scheme or 'a URL without a scheme'!r}",
            code="invalid_url",
            status=400,
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise ServiceError("the URL has no host name", code="invalid_url", status=400)
    port = parts.port or (443 if scheme == "https" else 80)
    allow = allowed_hosts()
    if host in allow or f"{host}:{port}" in allow:
        return
    try:
        addresses = [host] if ipaddress.ip_address(host) else []
    except ValueError:
        addresses = _resolve(host, port)
    for address in addresses:
        reason = _blocked_reason(ipaddress.ip_address(address))
        if reason:
            raise ServiceError(
                f"requests to {host} are not allowed: it resolves to a {reason} address. The platform fetches "
                f"only public addresses; an operator can allow a host with {ALLOW_SETTING}",
                code="outbound_blocked",
                status=403,
                details={"host": host, "reason": reason},
            )


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that checks every request (every redirect hop too) with `check_url`."""

    def __init__(self, inner: httpx.BaseTransport | None = None, **kwargs) -> None:
        self.inner = inner or httpx.HTTPTransport(**kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_url(str(request.url))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def guarded_client(**kwargs) -> httpx.Client:
    """An ``httpx.Client`` whose every request and redirect hop passes `check_url`.

    ``kwargs`` go to ``httpx.Client`` (timeout, headers, follow_redirects...)."""
    return httpx.Client(transport=GuardedTransport(), **kwargs)
