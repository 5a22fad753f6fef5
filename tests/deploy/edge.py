"""Caddy running the exact compose/Caddyfile in front of given loopback upstreams, for tests
and benchmarks that want to go through the edge.

    from tests.deploy.edge import running_edge

    with running_edge("127.0.0.1:8001", "127.0.0.1:8002") as edge:
        httpx.get(f"{edge.url}/v1/models")          # http://127.0.0.1:PORT, plain HTTP

``edge_start(*upstreams, tls=False, env=None)`` starts one and returns an ``Edge`` (stop it with
``edge.stop()``); ``running_edge`` is the same as a context manager. Upstreams are
``host:port`` or ``http://host:port`` strings. ``tls=True`` serves ``https://localhost:PORT``
with Caddy's internal CA (HTTP/2; clients must skip verification). ``env`` adds or overrides the
Caddyfile's variables (e.g. ``{"AIPORTAL_EDGE_MAX_BODY_BYTES": "1000"}``). Caddy is Debian's
package (``./dev test`` installs it), or the binary named by AIPORTAL_CADDY.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT, Process, free_port

CADDYFILE = ROOT / "compose" / "Caddyfile"
_SERVING = re.compile(r'"msg":"serving initial configuration"')


def caddy_path() -> str:
    path = os.environ.get("AIPORTAL_CADDY", "/usr/bin/caddy")
    if not Path(path).exists():
        raise RuntimeError(f"Caddy not found at {path}: run the tests with ./dev test")
    return path


@dataclass
class Edge:
    url: str  # the site: http://127.0.0.1:PORT, or https://localhost:PORT with tls=True
    health_url: str  # Caddy's own health site on loopback
    http_port: int  # with tls=True, where plain HTTP is redirected from
    process: Process
    _state_dir: str = field(repr=False)

    def log(self) -> str:
        return "".join(self.process.output)

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self._state_dir, ignore_errors=True)


def _dial(upstream: str) -> str:
    return upstream.removeprefix("http://").rstrip("/")


def edge_start(*upstreams: str, tls: bool = False, env: dict[str, str] | None = None) -> Edge:
    """Start Caddy with compose/Caddyfile in front of ``upstreams``; returns once it serves."""
    if not upstreams:
        raise ValueError("edge_start needs at least one upstream")
    port, health_port, http_port = free_port(), free_port(), free_port()
    site = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
    # Certificates, locks and the autosaved config of this instance only.
    state_dir = tempfile.mkdtemp(prefix="aiportal-edge-")
    variables = {
        "AIPORTAL_SITE_ADDRESS": site,
        "AIPORTAL_UPSTREAM": " ".join(_dial(upstream) for upstream in upstreams),
        "AIPORTAL_EDGE_TLS": "internal" if tls else "acme",
        "AIPORTAL_EDGE_HEALTH_PORT": str(health_port),
        # With TLS Caddy also serves the HTTP-to-HTTPS redirect: on a free port, not 80.
        "AIPORTAL_EDGE_HTTP_PORT": str(http_port),
        **({"AIPORTAL_EDGE_HTTPS_PORT": str(port)} if tls else {}),
        **(env or {}),
    }
    process = Process(
        [caddy_path(), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AIPORTAL_")},
            **variables,
            "XDG_DATA_HOME": f"{state_dir}/data",
            "XDG_CONFIG_HOME": f"{state_dir}/config",
        },
    )
    try:
        process.wait_for_line(_SERVING, timeout=20)
    except RuntimeError:
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    return Edge(
        url=site,
        health_url=f"http://127.0.0.1:{health_port}/",
        http_port=http_port,
        process=process,
        _state_dir=state_dir,
    )


@contextmanager
def running_edge(
    *upstreams: str, tls: bool = False, env: dict[str, str] | None = None
) -> Iterator[Edge]:
    edge = edge_start(*upstreams, tls=tls, env=env)
    try:
        yield edge
    finally:
        edge.stop()
