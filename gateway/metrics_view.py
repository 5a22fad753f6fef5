"""The ``/metrics`` view: who may read the portal's Prometheus metrics, and their rendering.

The metrics themselves (``REGISTRY`` and what the core counts) are in gateway/metrics.py;
this module is only imported by aiportal/urls.py.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.metrics import REGISTRY

_LOOPBACK = {"127.0.0.1", "::1"}


def _metrics_access(request: HttpRequest) -> int:
    """200 when the caller may read the metrics, else the status to answer with.

    With AIPORTAL_METRICS_TOKEN set, only that bearer token opens them, from anywhere.
    Without it, only loopback clients, and nobody at all when AIPORTAL_BEHIND_PROXY is set:
    behind a reverse proxy every client looks like the proxy's address.
    """
    token = settings.AIPORTAL_METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return 401
        ok = hmac.compare_digest(given.strip().encode(), token.encode())
        return 200 if ok else 401
    if settings.AIPORTAL_BEHIND_PROXY:
        # Every request then arrives from the proxy, often on loopback: without a token,
        # "loopback only" would mean "anyone who reaches the edge".
        return 403
    try:
        addr = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return 403
    # An IPv4 client reaching a dual-stack socket shows up as ::ffff:127.0.0.1.
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return 200 if str(addr) in _LOOPBACK else 403


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    status = _metrics_access(request)
    if status == 401:
        return HttpResponse(
            "Unauthorized\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if status != 200:
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
