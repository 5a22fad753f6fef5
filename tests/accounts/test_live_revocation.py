"""Live revocation against a real Daphne and the Redis channel layer: what an admin or the
person does in another process (this one) closes their open chat sockets with 4401 within
seconds, and the API keys of a user who may no longer act stop at once."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session

from accounts.models import User
from tests.accounts import mfa_fixtures, policy_fixtures
from tests.accounts.mfa_fixtures import (
    AVAILABLE_APPS,
    cookie_for,
    key_for,
    live_socket,
    models_status,
)

# Fixtures shared with the other account tests (tests/accounts/mfa_fixtures.py).
thread_connections_closed = mfa_fixtures.thread_connections_closed
no_rate_limits = policy_fixtures.no_rate_limits  # allauth's, off

pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=AVAILABLE_APPS),
    pytest.mark.usefixtures("thread_connections_closed"),
]


async def _save(user: User, **fields) -> None:
    for name, value in fields.items():
        setattr(user, name, value)
    await sync_to_async(user.save)()


async def test_deactivating_a_user_closes_their_chat_socket_and_stops_their_keys(daphne_url, owner):
    token = await sync_to_async(key_for)(owner)
    _, cookie = await sync_to_async(cookie_for)(owner)
    async with live_socket(daphne_url, cookie) as socket:
        assert await socket.answers()
        assert await models_status(daphne_url, token) == 200
        await _save(owner, is_active=False)
        assert await socket.close_code() == 4401
    assert await models_status(daphne_url, token) == 401


async def test_suspending_a_user_closes_their_chat_socket_and_stops_their_keys(daphne_url, owner):
    token = await sync_to_async(key_for)(owner)
    _, cookie = await sync_to_async(cookie_for)(owner)
    async with live_socket(daphne_url, cookie) as socket:
        assert await socket.answers()
        await _save(owner, status=User.Status.SUSPENDED)
        # 4403, not 4401: signing in again would not help (docs/accounts.md).
        assert await socket.close_code() == 4403
    assert await models_status(daphne_url, token) == 401


async def test_a_suspended_user_cannot_open_a_socket_with_a_session_they_still_hold(
    daphne_url, owner
):
    _, cookie = await sync_to_async(cookie_for)(owner)
    await sync_to_async(User.objects.filter(pk=owner.pk).update)(status=User.Status.SUSPENDED)
    async with live_socket(daphne_url, cookie) as socket:
        assert await socket.close_code() == 4403


async def test_signing_out_one_session_in_the_sessions_page_closes_only_its_socket(
    daphne_url, owner
):
    from allauth.usersessions.models import UserSession

    token = await sync_to_async(key_for)(owner)
    keeper, kept_cookie = await sync_to_async(cookie_for)(owner, user_agent="laptop")
    _, lost_cookie = await sync_to_async(cookie_for)(owner, user_agent="stolen phone")
    lost = await sync_to_async(UserSession.objects.get)(session_key=lost_cookie)
    async with (
        live_socket(daphne_url, kept_cookie) as kept,
        live_socket(daphne_url, lost_cookie) as revoked,
    ):
        assert await kept.answers() and await revoked.answers()
        response = await sync_to_async(keeper.post)(f"/accounts/sessions/{lost.pk}/end")
        assert response.status_code == 302
        assert await revoked.close_code() == 4401
        assert await kept.answers()
    # The key is another credential, made after a signed-in session: it goes on working.
    assert await models_status(daphne_url, token) == 200


async def test_signing_out_every_other_session_closes_their_sockets(daphne_url, owner):
    keeper, kept_cookie = await sync_to_async(cookie_for)(owner)
    _, other_cookie = await sync_to_async(cookie_for)(owner)
    async with (
        live_socket(daphne_url, kept_cookie) as kept,
        live_socket(daphne_url, other_cookie) as other,
    ):
        assert await other.answers()
        response = await sync_to_async(keeper.post)("/accounts/sessions/")
        assert response.status_code == 302
        assert await other.close_code() == 4401
        assert await kept.answers()


async def test_signing_out_closes_that_sessions_socket(daphne_url, owner):
    client, cookie = await sync_to_async(cookie_for)(owner)
    async with live_socket(daphne_url, cookie) as socket:
        assert await socket.answers()
        await sync_to_async(client.post)("/accounts/logout/")
        assert await socket.close_code() == 4401


async def test_a_session_row_deleted_behind_the_apps_back_closes_its_socket(daphne_url, owner):
    # As ``clearsessions`` or an operator in a shell would.
    _, cookie = await sync_to_async(cookie_for)(owner)
    async with live_socket(daphne_url, cookie) as socket:
        assert await socket.answers()
        await sync_to_async(Session.objects.filter(session_key=cookie).delete)()
        assert await socket.close_code() == 4401


async def test_changing_the_password_closes_every_socket_signed_in_with_the_old_one(
    daphne_url, owner
):
    token = await sync_to_async(key_for)(owner)
    _, first = await sync_to_async(cookie_for)(owner)
    _, second = await sync_to_async(cookie_for)(owner)
    async with live_socket(daphne_url, first) as one, live_socket(daphne_url, second) as two:
        assert await one.answers() and await two.answers()
        owner.set_password("a brand new passphrase 77")
        await sync_to_async(owner.save)()
        assert await one.close_code() == 4401
        assert await two.close_code() == 4401
    assert await models_status(daphne_url, token) == 200


async def test_an_unrelated_change_to_the_user_leaves_their_socket_open(daphne_url, owner):
    _, cookie = await sync_to_async(cookie_for)(owner)
    async with live_socket(daphne_url, cookie) as socket:
        assert await socket.answers()
        await _save(owner, first_name="Ada")
        # A change that does take access away still closes it afterwards: the socket was
        # listening all along, and the unrelated one did not close it.
        assert await socket.answers()
        await _save(owner, is_active=False)
        assert await socket.close_code() == 4401


async def test_another_users_deactivation_leaves_this_users_socket_open(daphne_url, owner, member):
    _, cookie = await sync_to_async(cookie_for)(owner)
    async with live_socket(daphne_url, cookie) as socket:
        assert await socket.answers()
        await _save(member, is_active=False)
        await _save(owner, first_name="still here")
        assert await socket.answers()


async def test_the_close_code_reaches_a_client_busy_elsewhere_when_it_is_sent(daphne_url, owner):
    """The helper reads all along (tests/accounts/mfa_fixtures.py, LiveSocket): a client that
    read only when asked, busy for a few seconds when the server closed, got 1006 instead of
    the code, since the server dropped a connection that did not answer its close (seen under
    a loaded CI run)."""
    _, cookie = await sync_to_async(cookie_for)(owner)
    async with live_socket(daphne_url, cookie) as socket:
        assert await socket.answers()
        await _save(owner, status=User.Status.SUSPENDED)
        await asyncio.sleep(3)  # busy elsewhere, as a loaded machine keeps a test
        assert await socket.close_code() == 4403
