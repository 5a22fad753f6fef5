"""The Worker and ModelAccess admin, and the live pool page."""

import asyncio
import re
import time

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import AsyncClient, Client
from django.urls import reverse

from gateway.models import ModelAccess, Worker
from gateway.redis import redis_sync
from gateway.telemetry import NO_LOAD_METRICS, store
from gateway.telemetry.store import Entry, Snapshot, WorkerState
from gateway.types import WorkerSpec
from tests.gateway.pool_helpers import telemetry_fixture  # noqa: F401

POOL = "admin:gateway_worker_pool"
POOL_JSON = "admin:gateway_worker_pool_json"
SECRET = "sk-upstream-4f1c9a"


@pytest.fixture
def admin_user(make_user):
    return make_user("admin@example.com", is_staff=True)


@pytest.fixture
def staff_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def plain_staff(make_user):
    """Staff without any permission on workers."""
    user = make_user("helpdesk@example.com")
    user.is_staff = True
    user.save()
    return user


def snapshot_publish(*entries: tuple[str, str, str, WorkerState]) -> None:
    """Publish a snapshot as the prober would: (url, region, source, state) per worker."""
    snapshot = Snapshot(
        published_at=time.time(),
        prober="test-prober",
        entries=[
            Entry(WorkerSpec(url=url, region=region, source=source), state, url)
            for url, region, source, state in entries
        ],
    )
    redis_sync().set(store.snapshot_key(), store.snapshot_encode(snapshot))


def busy(**fields) -> WorkerState:
    now = time.time()
    state = WorkerState(healthy=True, models=["m"], metrics_at=now, health_at=now, **fields)
    return state


# --- Worker admin ---------------------------------------------------------------------------


def test_the_changelist_shows_live_columns_and_links_the_pool_page(telemetry, staff_client):
    telemetry.AIPORTAL_WORKERS = ""
    Worker.objects.create(base_url="http://gpu1:8000", region="eu")
    Worker.objects.create(base_url="http://gpu2:8000", region="eu")
    snapshot_publish(
        ("http://gpu1:8000", "eu", "admin", busy(waiting=3, kv_usage=0.42)),
        ("http://gpu2:8000", "eu", "admin", WorkerState(healthy=False)),
    )
    response = staff_client.get(reverse("admin:gateway_worker_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse(POOL) in html
    assert "healthy" in html and "down" in html
    assert "42 %" in html
    assert ">3<" in html


def quiet() -> WorkerState:
    """A worker started with --disable-log-stats: healthy, its gauges never read."""
    return WorkerState(healthy=True, models=["m"], health_at=time.time(), no_load_metrics=True)


def test_a_worker_without_load_metrics_is_listed_as_such_not_as_down(telemetry, staff_client):
    telemetry.AIPORTAL_WORKERS = ""
    Worker.objects.create(base_url="http://gpu1:8000", region="eu")
    snapshot_publish(("http://gpu1:8000", "eu", "admin", quiet()))
    response = staff_client.get(reverse("admin:gateway_worker_changelist"))
    html = response.content.decode()
    assert NO_LOAD_METRICS in html
    assert "down" not in re.sub(r"<[^>]+>", " ", html).split()
    assert " % " not in html  # no KV use shown: there is none to show


def test_the_pool_page_says_a_worker_has_no_load_metrics(telemetry, staff_client):
    telemetry.AIPORTAL_WORKERS = "http://quiet-gpu:8000@eu"
    snapshot_publish(("http://quiet-gpu:8000", "eu", "env", quiet()))
    html = staff_client.get(reverse(POOL)).content.decode()
    note = re.search(r'<span class="pool-note">(.*?)</span></span>', html).group(1)
    assert re.sub(r"<[^>]+>", "", note) == NO_LOAD_METRICS
    assert 'class="up quiet"' in html


@pytest.mark.django_db(transaction=True)
async def test_the_json_marks_a_worker_started_without_stats(telemetry, emulators, admin_user):
    url = emulators("--disable-log-stats")
    telemetry.AIPORTAL_WORKERS = f"{url}@eu"
    client = AsyncClient()
    await client.aforce_login(admin_user)
    deadline = time.monotonic() + 5
    while True:
        [worker] = (await client.get(reverse(POOL_JSON))).json()["workers"] or [{}]
        if worker.get("healthy") and worker.get("no_load_metrics"):
            break
        assert time.monotonic() < deadline, worker
        await asyncio.sleep(0.05)
    assert worker["note"] == NO_LOAD_METRICS
    assert worker["error"] == ""


def test_drain_enable_and_disable_actions(telemetry, staff_client):
    worker = Worker.objects.create(base_url="http://gpu1:8000", region="eu")
    url = reverse("admin:gateway_worker_changelist")

    def act(action):
        data = {"action": action, "_selected_action": [worker.pk]}
        assert staff_client.post(url, data).status_code == 302
        worker.refresh_from_db()

    act("drain_selected")
    assert (worker.enabled, worker.draining) == (True, True)
    act("disable_selected")
    assert (worker.enabled, worker.draining) == (False, True)
    act("enable_selected")
    assert (worker.enabled, worker.draining) == (True, False)


def test_an_invalid_worker_is_refused_with_a_message(telemetry, staff_client):
    add = reverse("admin:gateway_worker_add")
    for base_url, weight in (("ftp://gpu1", "1"), ("http://gpu1:8000", "0")):
        data = {"base_url": base_url, "region": "eu", "weight": weight, "enabled": "on"}
        response = staff_client.post(add, data)
        assert response.status_code == 200
        assert "errornote" in response.content.decode()
    assert not Worker.objects.exists()


# --- The API key is write-only --------------------------------------------------------------


def _form(worker: Worker, **changes) -> dict:
    data = {
        "base_url": worker.base_url,
        "region": worker.region,
        "weight": str(worker.weight),
        "enabled": "on",
        "max_concurrency": "",
        "api_key": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_api_key_is_saved_but_never_shown_again(telemetry, staff_client):
    add = reverse("admin:gateway_worker_add")
    data = {"base_url": "http://gpu1:8000/", "region": "eu", "weight": "1", "enabled": "on"}
    response = staff_client.post(add, {**data, "api_key": SECRET})
    assert response.status_code == 302
    worker = Worker.objects.get()
    assert worker.api_key == SECRET
    assert worker.base_url == "http://gpu1:8000"  # normalised
    change = reverse("admin:gateway_worker_change", args=[worker.pk])
    html = staff_client.get(change).content.decode()
    assert SECRET not in html
    assert "A key is set" in html
    assert 'name="clear_api_key"' in html
    assert SECRET not in repr(worker)


def test_a_blank_key_keeps_the_old_one(telemetry, staff_client):
    worker = Worker.objects.create(base_url="http://gpu1:8000", region="eu", api_key=SECRET)
    change = reverse("admin:gateway_worker_change", args=[worker.pk])
    response = staff_client.post(change, _form(worker, region="us"))
    assert response.status_code == 302
    worker.refresh_from_db()
    assert (worker.region, worker.api_key) == ("us", SECRET)


def test_a_new_key_replaces_the_old_one_and_clear_removes_it(telemetry, staff_client):
    worker = Worker.objects.create(base_url="http://gpu1:8000", region="eu", api_key=SECRET)
    change = reverse("admin:gateway_worker_change", args=[worker.pk])
    assert staff_client.post(change, _form(worker, api_key="sk-new")).status_code == 302
    worker.refresh_from_db()
    assert worker.api_key == "sk-new"
    # Both at once is ambiguous: refused, nothing changes.
    both = _form(worker, api_key="sk-other", clear_api_key="on")
    assert staff_client.post(change, both).status_code == 200
    worker.refresh_from_db()
    assert worker.api_key == "sk-new"
    assert staff_client.post(change, _form(worker, clear_api_key="on")).status_code == 302
    worker.refresh_from_db()
    assert worker.api_key == ""


# --- The live pool page ---------------------------------------------------------------------


def test_staff_see_every_worker_on_the_pool_page(telemetry, staff_client):
    telemetry.AIPORTAL_WORKERS = "http://env-gpu:8000@eu,dns+http://localhost:9@us"
    row = Worker.objects.create(base_url="http://admin-gpu:8000", region="eu")
    snapshot_publish(
        ("http://env-gpu:8000", "eu", "env", busy(running=2, waiting=1, kv_usage=0.5)),
        ("http://127.0.0.1:9", "us", "dns", WorkerState(healthy=False, error="health: boom")),
        ("http://admin-gpu:8000", "eu", "admin", busy()),
    )
    response = staff_client.get(reverse(POOL))
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("env-gpu:8000", "127.0.0.1:9", "admin-gpu:8000"):
        assert name in html
    assert "health: boom" in html
    assert "50 %" in html
    # Drain buttons only for admin rows, posting with a CSRF token.
    drain = reverse("admin:gateway_worker_pool_action", args=[row.pk, "drain"])
    assert html.count('action="/admin/gateway/worker/pool/') == 1
    assert f'action="{drain}"' in html
    assert "csrfmiddlewaretoken" in html
    # The CSP allows no inline script: every script is a file.
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert "gateway/pool." in html and ".js" in html


def test_people_who_are_not_staff_are_sent_to_the_admin_login(telemetry, member):
    client = Client()
    login = reverse("admin:login")
    response = client.get(reverse(POOL))
    assert response.status_code == 302 and response["Location"].startswith(login)
    client.force_login(member)
    response = client.get(reverse(POOL))
    assert response.status_code == 302 and response["Location"].startswith(login)


def test_staff_without_the_view_permission_are_refused(telemetry, plain_staff):
    client = Client()
    client.force_login(plain_staff)
    assert client.get(reverse(POOL)).status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_the_json_is_for_staff_only(telemetry, member, admin_user, plain_staff):
    client = AsyncClient()
    assert (await client.get(reverse(POOL_JSON))).status_code == 403
    await client.aforce_login(member)
    assert (await client.get(reverse(POOL_JSON))).status_code == 403
    await client.aforce_login(plain_staff)
    assert (await client.get(reverse(POOL_JSON))).status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_the_json_shows_the_live_pool(telemetry, emulator_url, admin_user):
    url = emulator_url
    telemetry.AIPORTAL_WORKERS = f"{url}@eu"
    client = AsyncClient()
    await client.aforce_login(admin_user)
    deadline = time.monotonic() + 5
    while True:
        response = await client.get(reverse(POOL_JSON))
        assert response.status_code == 200
        assert response["Cache-Control"].startswith("max-age=0")
        data = response.json()
        if data["workers"] and data["workers"][0]["healthy"]:
            break
        assert time.monotonic() < deadline
    [worker] = data["workers"]
    assert worker["url"] == url
    assert worker["region"] == "eu"
    assert worker["models"] == ["aiportal-emulator"]
    assert worker["circuit"] == "closed"
    assert worker["metrics_age"] < 1
    assert worker["admin_id"] is None
    assert data["prober"]


def test_the_pool_page_drains_and_enables_admin_workers(telemetry, staff_client):
    worker = Worker.objects.create(base_url="http://gpu1:8000", region="eu")
    drain = reverse("admin:gateway_worker_pool_action", args=[worker.pk, "drain"])
    assert staff_client.get(drain).status_code == 405
    response = staff_client.post(drain)
    assert response.status_code == 302 and response["Location"] == reverse(POOL)
    worker.refresh_from_db()
    assert worker.draining
    enable = reverse("admin:gateway_worker_pool_action", args=[worker.pk, "enable"])
    staff_client.post(enable)
    worker.refresh_from_db()
    assert (worker.enabled, worker.draining) == (True, False)
    bogus = reverse("admin:gateway_worker_pool_action", args=[worker.pk, "explode"])
    assert staff_client.post(bogus).status_code == 403


def test_pool_actions_need_the_change_permission_and_csrf(telemetry, admin_user, plain_staff):
    worker = Worker.objects.create(base_url="http://gpu1:8000", region="eu")
    drain = reverse("admin:gateway_worker_pool_action", args=[worker.pk, "drain"])
    plain_staff.user_permissions.add(Permission.objects.get(codename="view_worker"))
    client = Client()
    client.force_login(plain_staff)
    assert client.get(reverse(POOL)).status_code == 200
    assert client.post(drain).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(drain).status_code == 403
    worker.refresh_from_db()
    assert not worker.draining


# --- ModelAccess admin ----------------------------------------------------------------------


def test_model_access_rules_are_managed_in_admin(telemetry, staff_client):
    group = Group.objects.create(name="research")
    add = reverse("admin:gateway_modelaccess_add")
    response = staff_client.post(add, {"model": "secret", "groups": [group.pk], "note": "GPU"})
    assert response.status_code == 302
    rule = ModelAccess.objects.get()
    assert list(rule.groups.all()) == [group]
    html = staff_client.get(reverse("admin:gateway_modelaccess_changelist")).content.decode()
    assert "secret" in html and "research" in html


def test_the_pool_page_works_without_redis(telemetry, staff_client):
    telemetry.REDIS_URL = ""
    telemetry.AIPORTAL_WORKERS = "http://env-gpu:8000@eu"
    state = busy(running=4)
    snapshot = Snapshot(
        published_at=time.time(),
        prober="in-process",
        entries=[Entry(WorkerSpec(url="http://env-gpu:8000", region="eu"), state, "")],
    )
    redis_sync().set(store.snapshot_key(), store.snapshot_encode(snapshot))
    html = staff_client.get(reverse(POOL)).content.decode()
    assert "env-gpu:8000" in html
    assert "in-process" in html
