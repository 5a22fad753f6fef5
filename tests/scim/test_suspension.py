"""Deactivating a user through SCIM stops them at once, exactly as an admin's suspension does
(tests/accounts/test_live_revocation.py): their open chat socket closes with 4403 and their
API key gets a 401; reactivating lets the key work again."""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import sync_to_async

from tests.accounts import mfa_fixtures
from tests.accounts.mfa_fixtures import cookie_for, key_for, live_socket, models_status
from tests.scim.fixtures import AVAILABLE_APPS, SCIM_TYPE, scim_token

thread_connections_closed = mfa_fixtures.thread_connections_closed

pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=AVAILABLE_APPS),
    pytest.mark.usefixtures("thread_connections_closed"),
]


def _active(value: str) -> dict:
    # Entra ID's form: a capitalised op and the boolean as a string.
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": value}],
    }


async def test_deactivating_through_scim_closes_their_socket_and_stops_their_key(daphne_url, owner):
    token = await sync_to_async(scim_token)()
    key = await sync_to_async(key_for)(owner)
    _, cookie = await sync_to_async(cookie_for)(owner)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM_TYPE}
    user_url = f"{daphne_url}/scim/v2/Users/{owner.pk}"
    async with httpx.AsyncClient(headers=headers, timeout=20) as scim:
        async with live_socket(daphne_url, cookie) as socket:
            assert await socket.answers()
            assert await models_status(daphne_url, key) == 200
            off = await scim.patch(user_url, json=_active("False"))
            assert off.status_code == 200 and off.json()["active"] is False
            assert await socket.close_code() == 4403
        assert await models_status(daphne_url, key) == 401
        on = await scim.patch(user_url, json=_active("True"))
        assert on.json()["active"] is True
        assert await models_status(daphne_url, key) == 200
        # DELETE suspends the same way.
        assert (await scim.delete(user_url)).status_code == 204
        assert await models_status(daphne_url, key) == 401
