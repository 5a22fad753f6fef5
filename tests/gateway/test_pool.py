import socket

import pytest

from common.env import ConfigError
from gateway import pool
from gateway.pool import NameGone, pool_combine, pool_resolve, workers_parse
from gateway.types import WorkerSpec
from tests.gateway.pool_helpers import telemetry_fixture  # noqa: F401 - fixture


def test_it_reads_url_at_region_entries():
    assert workers_parse("http://gpu1:8000@eu-west, http://gpu2:8000/@us-east") == [
        WorkerSpec(url="http://gpu1:8000", region="eu-west"),
        WorkerSpec(url="http://gpu2:8000", region="us-east"),
    ]


def test_an_empty_value_means_no_workers():
    assert workers_parse("") == []
    assert workers_parse(" , ") == []


def test_credentials_in_the_url_do_not_confuse_the_region():
    [worker] = workers_parse("http://user:pw@gpu1:8000@eu-west")
    assert worker.region == "eu-west"
    assert worker.url == "http://user:pw@gpu1:8000"


def test_it_reads_dns_entries():
    [worker] = workers_parse("dns+http://vllm:8000@eu-west")
    assert worker.url == "dns+http://vllm:8000"
    assert pool.is_dns_entry(worker.url)


@pytest.mark.parametrize(
    "value",
    [
        "http://gpu1:8000",
        "gpu1:8000@eu",
        "ftp://gpu1@eu",
        "dns+ftp://gpu1@eu",
        "http://gpu1:8000@",
        "http://@eu",
        "http://gpu1:8000@eu west",
        "http://gpu1:99999@eu",
        "http://gpu1:8000/?x=1@eu",
    ],
)
def test_it_rejects_malformed_entries_with_a_message(value):
    with pytest.raises(ConfigError, match="AIPORTAL_WORKERS"):
        workers_parse(value)


def test_it_rejects_the_same_worker_twice():
    with pytest.raises(ConfigError, match="same worker twice"):
        workers_parse("http://a:1@r1,http://a:1@r2")


def test_worker_name_is_host_and_port():
    assert WorkerSpec(url="http://gpu1:8000", region="x").name == "gpu1:8000"


def test_the_api_key_is_not_in_a_worker_spec_repr():
    spec = WorkerSpec(url="http://gpu1:8000", region="x", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(spec)
    assert "sk-very-secret" not in str(spec)


def test_an_admin_row_replaces_the_env_entry_with_its_url():
    env = workers_parse("http://a:1@r1,http://b:1@r1")
    admin = [
        WorkerSpec(url="http://b:1", region="r2", weight=3, source="admin"),
        WorkerSpec(url="http://c:1", region="r3", source="admin"),
    ]
    combined = pool_combine(env, admin)
    assert [(w.url, w.region, w.source) for w in combined] == [
        ("http://a:1", "r1", "env"),
        ("http://b:1", "r2", "admin"),
        ("http://c:1", "r3", "admin"),
    ]
    assert combined[1].weight == 3


# --- DNS ------------------------------------------------------------------------------------


async def test_localhost_resolves_to_loopback_here():
    # What the DNS tests below rely on: this machine's resolver answers localhost with
    # 127.0.0.1 only (no ::1), so a dns+ entry for it is one worker.
    assert await pool.dns_resolve("localhost", 80) == ["127.0.0.1"]


async def test_a_dns_entry_becomes_one_worker_per_address(telemetry, settings):
    settings.AIPORTAL_WORKERS = "dns+http://localhost:8123/base@eu"
    result = await pool_resolve()
    assert [(w.url, w.region, w.source) for w in result.workers] == [
        ("http://127.0.0.1:8123/base", "eu", "dns")
    ]
    assert result.dns[0].addresses == ["127.0.0.1"]
    assert result.origin["http://127.0.0.1:8123/base"] == "dns+http://localhost:8123/base"


async def test_a_name_with_several_addresses_gives_several_workers(telemetry, settings):
    asked = []

    async def resolver(host, port):
        asked.append((host, port))
        return ["10.0.0.5", "10.0.0.6", "fd00::7"]

    settings.AIPORTAL_WORKERS = "dns+https://vllm@us,http://10.0.0.9:8000@us"
    result = await pool_resolve(resolver=resolver)
    assert asked == [("vllm", 443)]
    assert [w.url for w in result.workers] == [
        "https://10.0.0.5",
        "https://10.0.0.6",
        "https://[fd00::7]",
        "http://10.0.0.9:8000",
    ]
    assert {w.source for w in result.workers[:3]} == {"dns"}


async def test_an_explicit_entry_wins_over_the_same_address_from_dns(telemetry, settings):
    async def resolver(host, port):
        return ["10.0.0.5", "10.0.0.6"]

    settings.AIPORTAL_WORKERS = "dns+http://vllm:8000@eu,http://10.0.0.6:8000@us"
    result = await pool_resolve(resolver=resolver)
    assert [(w.url, w.region) for w in result.workers] == [
        ("http://10.0.0.5:8000", "eu"),
        ("http://10.0.0.6:8000", "us"),
    ]


async def test_the_name_is_resolved_again_on_every_call(telemetry, settings):
    answers = [["10.0.0.5"], ["10.0.0.5", "10.0.0.6"], []]

    async def resolver(host, port):
        return answers.pop(0)

    settings.AIPORTAL_WORKERS = "dns+http://vllm:8000@eu"
    sizes = [len((await pool_resolve(resolver=resolver)).workers) for _ in range(3)]
    assert sizes == [1, 2, 0]


async def test_a_name_that_is_gone_means_no_workers(telemetry, settings):
    calls = iter([["10.0.0.5"], NameGone("vllm")])

    async def resolver(host, port):
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return answer

    settings.AIPORTAL_WORKERS = "dns+http://vllm:8000@eu"
    assert len((await pool_resolve(resolver=resolver)).workers) == 1
    result = await pool_resolve(resolver=resolver)
    assert result.workers == []
    assert result.dns[0].error == "the name does not resolve"


async def test_a_resolver_failure_keeps_the_last_answer(telemetry, settings):
    calls = iter([["10.0.0.5", "10.0.0.6"], socket.gaierror(socket.EAI_AGAIN, "try again")])

    async def resolver(host, port):
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return answer

    settings.AIPORTAL_WORKERS = "dns+http://vllm:8000@eu"
    first = await pool_resolve(resolver=resolver)
    second = await pool_resolve(resolver=resolver)
    assert [w.url for w in second.workers] == [w.url for w in first.workers]
    assert "kept the last answer" in second.dns[0].error


async def test_an_unknown_name_resolves_to_nothing_for_real(telemetry, settings):
    settings.AIPORTAL_WORKERS = "dns+http://no-such-worker.invalid:8000@eu"
    result = await pool_resolve()
    assert result.workers == []
    assert result.dns[0].error


# --- Admin rows -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_admin_rows_join_and_override_env_entries(telemetry, settings):
    from gateway.models import Worker

    settings.AIPORTAL_WORKERS = "http://a:8000@env-r,http://b:8000@env-r"
    await Worker.objects.acreate(base_url="http://b:8000/", region="admin-r", draining=True)
    await Worker.objects.acreate(base_url="http://c:8000", region="admin-r", api_key="k-c")
    await Worker.objects.acreate(base_url="dns+http://localhost:9000", region="dns-r")
    result = await pool_resolve()
    assert [(w.url, w.region, w.source, w.draining) for w in result.workers] == [
        ("http://a:8000", "env-r", "env", False),
        ("http://b:8000", "admin-r", "admin", True),
        ("http://c:8000", "admin-r", "admin", False),
        ("http://127.0.0.1:9000", "dns-r", "dns", False),
    ]
    assert result.workers[2].api_key == "k-c"


@pytest.mark.django_db(transaction=True)
async def test_a_database_outage_keeps_the_last_admin_rows(telemetry, settings, monkeypatch):
    from gateway.models import Worker

    settings.AIPORTAL_WORKERS = ""
    await Worker.objects.acreate(base_url="http://c:8000", region="r")
    assert [w.url for w in (await pool_resolve()).workers] == ["http://c:8000"]

    def broken():
        raise RuntimeError("database is down")

    monkeypatch.setattr(pool, "_admin_rows_read", broken)
    assert [w.url for w in (await pool_resolve()).workers] == ["http://c:8000"]


@pytest.mark.django_db(transaction=True)
async def test_a_hanging_database_neither_stalls_probing_nor_piles_up_reads(
    telemetry, settings, monkeypatch
):
    import threading

    from gateway.models import Worker

    settings.AIPORTAL_WORKERS = ""
    await Worker.objects.acreate(base_url="http://c:8000", region="r")
    assert [w.url for w in (await pool_resolve()).workers] == ["http://c:8000"]
    release, reads = threading.Event(), []

    def hanging():  # a database that is down: the connection pool waits for its timeout
        reads.append(1)
        release.wait(10)
        return []

    monkeypatch.setattr(pool, "ADMIN_READ_WAIT", 0.05)
    monkeypatch.setattr(pool, "_admin_rows_read", hanging)
    for _ in range(3):  # three probe cycles go on with the last rows...
        assert [w.url for w in (await pool_resolve()).workers] == ["http://c:8000"]
    assert len(reads) == 1  # ...while one read waits, not one per cycle
    release.set()
    monkeypatch.setattr(pool, "ADMIN_READ_WAIT", 5)
    assert (await pool_resolve()).workers == []  # the read that came back is used


@pytest.mark.django_db(transaction=True)
async def test_a_row_with_an_unusable_url_is_skipped_not_the_table(telemetry, settings):
    from gateway.models import Worker

    settings.AIPORTAL_WORKERS = ""
    # Written around the admin form (a shell, a fixture): no validation ran.
    await Worker.objects.acreate(base_url="gpu-without-scheme:8000", region="r")
    await Worker.objects.acreate(base_url="http://c:8000", region="r")
    assert [w.url for w in (await pool_resolve()).workers] == ["http://c:8000"]
