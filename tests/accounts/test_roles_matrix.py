"""Pending and suspended accounts against every credential path, the active one for contrast:
a session (pages, the admin, dataset views, share and export), an API key (/v1 on a real
Daphne), a websocket (ws/chat/ and the admin's job socket, with a session cookie, on the same
Daphne). Also the status page, signing in and out, and the admin's status actions."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import httpx
import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, User
from accounts.services import StatusChangeRefused, user_status_set
from chat.services import conversation_create
from chat.services.conversations import conversation_share_create
from common.websockets import CLOSE_FORBIDDEN
from datasets.services.datasets import dataset_create
from gateway.emulator import DEFAULT_MODEL
from gateway.keys import apikey_create
from gateway.models import ApiKey
from tests.accounts import policy_fixtures
from tests.accounts.policy_fixtures import signed_in_client
from tests.conftest import PASSWORD

person = policy_fixtures.person
no_rate_limits = policy_fixtures.no_rate_limits
BLOCKED = ["pending", "suspended"]
STATUS_URL = "/accounts/status/"


@pytest.fixture
def world(person):
    """A staff person in each status, each with a conversation, a share link and a dataset
    made while still active."""

    def make(status: str):
        user = person("active", staff=True, email=f"{status}@example.com")
        conversation = conversation_create(user=user, title="Mine")
        share = conversation_share_create(user=user, id=conversation.pk)
        dataset = dataset_create(user=user, name="Handbook")
        User.objects.filter(pk=user.pk).update(status=status)
        user.refresh_from_db()
        return user, conversation, share, dataset

    return make


def page_paths(conversation, dataset) -> list[str]:
    return [
        "/",
        f"/c/{conversation.pk}/",
        f"/c/{conversation.pk}/export.md",
        f"/c/{conversation.pk}/export.json",
        "/api/conversations/",
        "/chat/models/",
        "/datasets/",
        f"/datasets/{dataset.pk}/",
        "/datasets/api/picker/",
        "/assistants/",
        "/assistants/api/",
        "/settings/keys/",
        "/accounts/email/",
        "/accounts/password/change/",
        "/admin/",
        "/admin/accounts/user/",
    ]


def post_paths(conversation, dataset) -> list[str]:
    return [
        f"/api/conversations/{conversation.pk}/share/",
        f"/api/conversations/{conversation.pk}/rename/",
        "/settings/keys/",
        "/assistants/",
        f"/datasets/{dataset.pk}/refill/",
        f"/datasets/{dataset.pk}/export/",
        f"/datasets/{dataset.pk}/delete/",
        "/admin/accounts/user/",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("status", BLOCKED)
def test_a_blocked_session_reaches_no_page_only_its_status(world, status):
    user, conversation, share, dataset = world(status)
    client = signed_in_client(user)
    for path in page_paths(conversation, dataset):
        response = client.get(path)
        assert (response.status_code, response.get("Location")) == (302, STATUS_URL), path
        assert client.get(path, HTTP_ACCEPT="application/json").status_code == 403, path
    for path in post_paths(conversation, dataset):
        response = client.post(path, {"name": "x", "title": "x"})
        assert response.status_code == 403, path
        assert response.json()["error"] == f"account_{status}", path
    # Nothing was done on the way: no key, the dataset and the share as they were.
    assert not ApiKey.objects.filter(user=user).exists()
    dataset.refresh_from_db()
    assert dataset.name == "Handbook"
    # The owner's share link is dark while the account may not act.
    assert Client().get(f"/s/{share}/").status_code == 404


@pytest.mark.django_db
def test_an_active_session_reaches_the_same_pages(world):
    user, conversation, share, dataset = world("active")
    client = signed_in_client(user)
    for path in page_paths(conversation, dataset):
        if path == "/chat/models/":
            continue  # async, reads the pool in another thread: tests/chat/test_thread_views.py
        response = client.get(path)
        assert response.get("Location") != STATUS_URL and response.status_code < 400, path
    assert client.post(f"/api/conversations/{conversation.pk}/share/").status_code == 200
    assert Client().get(f"/s/{share}/").status_code in {200, 410}  # replaced by the new link
    assert client.get(STATUS_URL)["Location"] == reverse("chat:index")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        ("pending", 200, "Waiting for approval"),
        ("suspended", 403, "Account suspended"),
    ],
)
def test_the_status_page_says_where_the_account_stands(person, status, code, words):
    client = Client()
    user = person(status)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302  # signing in works: it leads to the status page
    page = client.get("/", follow=True)
    assert page.redirect_chain[-1][0] == STATUS_URL
    assert page.status_code == code and words in page.content.decode()
    assert reverse("account_email") not in page.content.decode()  # no links that lead nowhere
    assert client.post(reverse("account_logout")).status_code == 302
    assert client.get(STATUS_URL)["Location"].startswith(reverse("account_login"))


# --- Admin actions --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_approves_suspends_and_reactivates_with_an_audit_trail(
    person, make_user, django_capture_on_commit_callbacks
):
    boss = make_user("boss@example.com", is_staff=True)
    waiting = person("pending")
    client = signed_in_client(boss)
    changelist = reverse("admin:accounts_user_changelist")
    listing = client.get(changelist, {"status__exact": "pending"})
    assert list(listing.context["cl"].result_list) == [waiting]

    def act(action: str, *users: User):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                changelist, {"action": action, "_selected_action": [u.pk for u in users]}
            )
        assert response.status_code == 302
        for u in users:
            u.refresh_from_db()

    act("reactivate", waiting)  # not suspended: left as it was
    assert waiting.status == "pending"
    act("approve", waiting)
    assert waiting.status == "active" and mail.outbox[-1].to == [waiting.email]
    act("suspend", waiting, boss)  # the admin's own account is refused, the other suspended
    assert waiting.status == "suspended" and boss.status == "active"
    act("reactivate", waiting)
    assert waiting.status == "active"
    trail = AuditEvent.objects.filter(action="user.status.set", target_id=str(waiting.pk))
    assert [(e.detail["from"], e.detail["to"], e.actor_id) for e in trail.order_by("id")] == [
        ("pending", "active", boss.pk),
        ("active", "suspended", boss.pk),
        ("suspended", "active", boss.pk),
    ]


@pytest.mark.django_db
def test_the_status_service_refuses_self_suspension_and_unknown_statuses(member):
    with pytest.raises(StatusChangeRefused):
        user_status_set(user=member, status="suspended", by=member)
    with pytest.raises(StatusChangeRefused):
        user_status_set(user=member, status="boss", by=None)
    assert not user_status_set(user=member, status="active", by=None)  # unchanged: no event
    assert not AuditEvent.objects.filter(action="user.status.set").exists()


@pytest.mark.django_db
def test_the_status_is_read_only_on_the_admin_form(person, make_user):
    boss = make_user("boss@example.com", is_staff=True)
    waiting = person("pending")
    client = signed_in_client(boss)
    url = reverse("admin:accounts_user_change", args=[waiting.pk])
    page = client.get(url)
    assert 'name="status"' not in page.content.decode()
    assert "pending approval" in page.content.decode()


# --- Remote paths on a real Daphne: API keys and websockets ----------------------------------


async def _socket_close(url: str, cookie: str, origin: str) -> tuple[int | None, str]:
    """Connect with the session cookie; the close code and reason, or (None, first frame)."""
    headers = {"Cookie": f"sessionid={cookie}", "Origin": origin}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers) as ws,
    ):
        if url.endswith("/ws/chat/"):
            await ws.send_str(json.dumps({"type": "ping"}))
        message = await ws.receive(timeout=10)
        if message.type == aiohttp.WSMsgType.CLOSE:
            return ws.close_code, message.extra or ""
        return None, message.data


def models_status(daphne_url: str, token: str) -> int:
    auth = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{daphne_url}/v1/models", headers=auth, timeout=10).status_code


def remote_paths(daphne_url: str, user: User, token: str) -> dict[str, object]:
    """What each remote credential path answers this user: /v1 with a key, and both sockets."""
    auth = {"Authorization": f"Bearer {token}"}
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "Hi"}]}
    cookie = signed_in_client(user).cookies["sessionid"].value
    ws = daphne_url.replace("http://", "ws://")
    return {
        "models": models_status(daphne_url, token),
        "chat": httpx.post(
            f"{daphne_url}/v1/chat/completions", headers=auth, json=body, timeout=30
        ).status_code,
        "ws_chat": asyncio.run(_socket_close(f"{ws}/ws/chat/", cookie, daphne_url))[0],
        "ws_job": asyncio.run(_socket_close(f"{ws}/ws/admin/jobs/1/", cookie, daphne_url))[0],
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", BLOCKED)
def test_a_blocked_account_is_refused_on_every_remote_path(daphne_url, person, status):
    user = person(status, staff=True)
    _, token = apikey_create(user=user, name="laptop")
    assert remote_paths(daphne_url, user, token) == {
        "models": 401,
        "chat": 401,
        "ws_chat": CLOSE_FORBIDDEN,
        "ws_job": CLOSE_FORBIDDEN,
    }


@pytest.mark.django_db(transaction=True)
def test_an_active_account_gets_through_until_it_is_suspended(daphne_url, person):
    user = person("active", staff=True)
    _, token = apikey_create(user=user, name="laptop")
    answers = remote_paths(daphne_url, user, token)
    # The job socket: the account may act, so it gets as far as "no such job".
    assert answers == {"models": 200, "chat": 200, "ws_chat": None, "ws_job": 4404}
    user_status_set(user=user, status="suspended", by=None)
    # The same key, which Daphne has cached: looked at again once the user changed.
    assert models_status(daphne_url, token) == 401
    user_status_set(user=user, status="active", by=None)
    assert models_status(daphne_url, token) == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("status", "answer"), [("pending", 302), ("active", 200)])
async def test_the_status_check_holds_on_the_async_stack(person, status, answer):
    """Daphne runs the middleware chain asynchronously: the same check, through auser()."""
    from asgiref.sync import sync_to_async
    from django.db import connections
    from django.test import AsyncClient

    user = await sync_to_async(person)(status)
    client = AsyncClient()
    try:
        await client.aforce_login(user)
        response = await client.get("/datasets/")
        assert response.status_code == answer
        if answer == 302:
            assert response["Location"] == STATUS_URL
            assert (await client.post("/settings/keys/", {"name": "x"})).status_code == 403
    finally:
        # The sync thread the views ran in keeps its connection, which would keep the test
        # database from being dropped at the end.
        await sync_to_async(connections.close_all)()


@pytest.mark.django_db
@pytest.mark.parametrize("status", BLOCKED)
def test_a_person_the_trusted_header_signs_in_is_held_on_that_very_request(
    settings, person, status
):
    """The proxy's header signs the person in during the request
    (accounts/signin/trusted_header.py): the status check must come after it, or the first
    page would get through."""
    settings.AIPORTAL_TRUSTED_HEADER = "X-Forwarded-Email"
    settings.AIPORTAL_TRUSTED_PROXIES = ["127.0.0.1/32"]
    user = person(status)
    client = Client(REMOTE_ADDR="127.0.0.1")  # a new client loads the middleware anew
    response = client.get("/datasets/", HTTP_X_FORWARDED_EMAIL=user.email)
    assert (response.status_code, response.get("Location")) == (302, STATUS_URL)
    assert client.session.get("_auth_user_id") == str(user.pk)  # signed in, and held
