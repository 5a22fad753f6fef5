"""scim2-tester, the python-scim project's conformance checker, run against a real Daphne:
discovery, the random-URL 404, and for Users and Groups create, read (with attributes and
excludedAttributes), list, search, replace, delete and PATCH add/remove/replace of every
attribute the schemas publish. Every check must pass (or be skipped by the checker itself
for a feature the configuration says is off)."""

from __future__ import annotations

import socket

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.scim.fixtures import AVAILABLE_APPS, scim_token

pytestmark = pytest.mark.django_db(transaction=True, available_apps=AVAILABLE_APPS)


def test_scim2_tester_finds_nothing_wrong(daphne_url):
    # scim2-client speaks through httpx2 (httpx's successor, which it requires).
    http = httpx2.Client(
        base_url=f"{daphne_url}/scim/v2",
        headers={"Authorization": f"Bearer {scim_token()}"},
        timeout=10,
        # The client writes a request's headers and body apart: without NODELAY, Nagle holds
        # the body until the server's delayed ACK (40 ms), for each of ~470 requests.
        transport=httpx2.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        ),
    )
    client = SyncSCIMClient(http)
    results = check_server(client)
    failed = [
        f"{r.title} [{r.resource_type}]: {r.reason}"
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    assert not failed, "\n".join(failed)
    passed = {r.title for r in results if r.status == Status.SUCCESS}
    # What the checker skipped is only what the configuration turns off (root /.search).
    skipped = {r.title for r in results if r.status == Status.SKIPPED}
    assert skipped <= {"search_with_attributes"}, skipped
    assert {"object_creation", "object_replacement", "object_deletion"} <= passed
    assert {"check_add_attribute", "check_remove_attribute", "check_replace_attribute"} <= passed
