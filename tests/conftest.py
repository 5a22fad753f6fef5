"""Fixtures shared by every test: the three people, real processes (emulator, Daphne) and a
headless Chromium. ``./dev test`` provides PostgreSQL and Redis through DATABASE_URL and
REDIS_URL; the processes started here are real ones, on loopback, stopped at the end."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple 42"
_READY = re.compile(r"READY (http://\S+)")


def compile_translations() -> None:
    """``manage.py compilemessages`` for the project's own catalogues (locale/), as ./dev does
    at set-up; a catalogue that msgfmt refuses stops the run here."""
    # The project's compilemessages (accounts/management/commands/) leaves out node_modules,
    # static/ and any virtualenv in the checkout.
    subprocess.run([sys.executable, "manage.py", "compilemessages", "-v0"], cwd=ROOT, check=True)


# --- Parallel runs (pytest-xdist) ---------------------------------------------------------------


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """Give each xdist worker (gw0, gw1, ...) a Redis prefix and a data folder of its own.

    pytest-django already gives each worker its own test database (test_..._gw0), but the
    Redis database and AIPORTAL_DATA_DIR are shared: a key, a Celery queue or a dataset's
    files folder (named by its primary key, which repeats across the workers' databases)
    would otherwise be seen by both. This runs in the controller before any worker starts,
    and execnet sets a spec's ``env`` in the worker before pytest (and so pytest-django, which
    imports the settings very early) starts there. A conftest hook in the worker itself would
    come too late; every process a worker starts (Daphne, Celery, emulators) inherits it."""
    prefix = os.environ.get("AIPORTAL_REDIS_PREFIX", "aiportal")
    data_dir = os.environ.get("AIPORTAL_DATA_DIR")
    for spec in specs:
        spec.env["AIPORTAL_REDIS_PREFIX"] = f"{prefix}-{spec.id}"
        if data_dir:
            spec.env["AIPORTAL_DATA_DIR"] = str(Path(data_dir) / spec.id)


def pytest_configure(config):
    """In an xdist worker, refuse to run without the worker's own Redis prefix (set above):
    two workers on one prefix would consume each other's Celery tasks and channel messages.

    In the controller (or a run without xdist), compile the translations first: the .mo files
    are not committed, and the workers and the Daphne they start read them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        compile_translations()
    if worker:
        from django.conf import settings

        if not settings.REDIS_PREFIX.endswith(f"-{worker}"):
            raise pytest.UsageError(
                f"xdist worker {worker} has the shared Redis prefix {settings.REDIS_PREFIX!r}: "
                "it must be started by tests/conftest.py's pytest_xdist_setupnodes"
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process whose output is kept (for the failure message) and which is always
    stopped, its whole process group, when the fixture ends."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.output: list[str] = []
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.output):
                if match := pattern.search(line):
                    return match
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.args[:4]} did not become ready:\n{''.join(self.output)}")

    def wait_for_http(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                break
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{url} did not answer:\n{''.join(self.output)}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)


def start_emulator(*extra: str, region: str = "test-a") -> tuple[Process, str]:
    process = Process(
        [
            sys.executable,
            "-m",
            "gateway.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--region",
            region,
            # Tests compare answers to the same prompt: fixed without a seed (a test that
            # wants them to vary passes "--unseeded-answers", "vary"; the last one wins).
            "--unseeded-answers",
            "fixed",
            # Tests count frames against tokens: one token per chunk however loaded the
            # machine (tests/emulator/test_stream_interval.py turns coalescing on).
            "--no-coalesce-when-behind",
            *extra,
        ]
    )
    url = process.wait_for_line(_READY).group(1)
    return process, url


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """One fast emulated vLLM worker for the whole session (region ``test-a``)."""
    process, url = start_emulator("--tokens-per-second", "400", "--ttft-ms", "20")
    yield url
    process.stop()


@pytest.fixture
def workers(settings, emulator_url) -> str:
    """Point the gateway at the session's emulator."""
    settings.AIPORTAL_WORKERS = f"{emulator_url}@test-a"
    return emulator_url


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language. A request in French (LocaleMiddleware) or a
    test that activates a language leaves it active on its thread, and a later test on that
    thread read its services' messages in French."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _reset_gateway_caches():
    # Circuits too: they are per process, so a worker that failed in three tests in a row
    # (each on purpose) would be refused in the fourth, whichever test that is.
    from datasets.selectors.vectors import embedding_loop_close
    from gateway.state import gateway_state_reset

    gateway_state_reset()
    yield
    # A search or refill that embedded ran the gateway on a loop of its own: stop it, or its
    # pool refresh and usage writer would go on into the next test (extra usage rows, a
    # pool page showing another test's workers).
    embedding_loop_close()
    gateway_state_reset()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("tests that start Daphne need PostgreSQL: run them with ./dev test")
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_daphne(env: dict[str, str]) -> tuple[Process, str]:
    """A real Daphne serving aiportal.asgi on a free loopback port, with ``env`` on top of
    this process's environment; returns once ``/healthz`` answers."""
    port = free_port()
    process = Process(
        [
            sys.executable,
            "-m",
            "aiportal.serve",  # Daphne, as every deployment runs it
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "aiportal.asgi:application",
        ],
        # With the connection pool, as in production (the test process itself runs without
        # one: see ./dev's cmd_test).
        env={
            **os.environ,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "AIPORTAL_DB_POOL": "true",
            **env,
        },
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_for_http(f"{url}/healthz")
    _daphnes.append(process)
    return process, url


# The Daphnes this test process started: a failing test that used one shows the end of its
# log (a 500's traceback is there, not in the test's own output).
_daphnes: list[Process] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _daphnes and "daphne_url" in getattr(item, "fixturenames", ()):
        for process in _daphnes:
            if process.popen.poll() is None:
                report.sections.append(
                    (f"Daphne {process.args[-2]} (last lines)", "".join(process.output[-80:]))
                )


@pytest.fixture(scope="session")
def daphne_url(django_db_setup, django_db_blocker, emulator_url) -> Iterator[str]:
    """A real Daphne serving aiportal.asgi against the test database and the emulator.
    Tests that use it need ``transactional_db`` so that what they write is visible to it."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_SAVE_INTERVAL_MS": "100",
            # A generated title would replace the one from the first message at a moment
            # no test can wait for; test_titles.py and test_browser_sidebar.py turn them on.
            "AIPORTAL_CHAT_TITLES": "false",
        }
    )
    yield url
    process.stop()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, plus a copy of it made while it is still freshly
    migrated: ``<test database>_template``, named in ``AIPORTAL_BENCH_TEMPLATE_DB``.

    The benches that the tests run (tests/bench) each make a throwaway database of their own
    and migrate it from nothing: seconds of CPU each, half of the refill bench's whole run.
    With the variable set they copy this one instead (``CREATE DATABASE … TEMPLATE``, a
    fraction of a second) and their own ``migrate`` finds every migration applied. It is
    copied here, before any test or server has connected: PostgreSQL copies only a database
    nobody is using."""
    from django.db import connection

    template = None
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
        # Without a test that needs the database (a bench module run alone) pytest-django
        # made none, and this is the server's own: then the benches migrate from nothing.
        if connection.vendor == "postgresql" and name.startswith("test_"):
            template = f"{name}_template"
            connection.close()
            with connection._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{template}"')
                cursor.execute(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')
    if template is None:
        yield
        return
    os.environ["AIPORTAL_BENCH_TEMPLATE_DB"] = template
    yield
    os.environ.pop("AIPORTAL_BENCH_TEMPLATE_DB", None)
    with (
        django_db_blocker.unblock(),
        sync_orm_beside_playwright(),
        connection._nodb_cursor() as cursor,
    ):
        cursor.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


def embedded_env(data_dir: Path) -> dict[str, str]:
    """This environment less what ./dev test exports (PostgreSQL, Redis, the suite's data
    folder): the embedded default's, with SQLite in ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIPORTAL_", "DEBUG"))}
    for name in ("DATABASE_URL", "DATABASE_URL_FILE", "REDIS_URL", "REDIS_URL_FILE"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="aiportal.settings",
        AIPORTAL_DATA_DIR=str(data_dir),
        SECRET_KEY="only-to-migrate-" + "x" * 40,
    )
    return env


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded default's SQLite file (``aiportal.sqlite3``), migrated once for the whole
    run and shared by the xdist workers: a test that runs the embedded default in a fresh
    interpreter copies it into its data folder, and that interpreter's own ``migrate`` then
    has nothing left to apply (from nothing it is several seconds of CPU, each time).

    The first worker to ask migrates it in the run's shared temporary folder, under a lock;
    the others wait for it and reuse it. Never change the copy in place: copy it."""
    import fcntl

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    done = shared / "migrated-sqlite" / "aiportal.sqlite3"
    with open(shared / "migrated-sqlite.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            staging = Path(tempfile.mkdtemp(prefix="migrating-", dir=shared))
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
                cwd=ROOT,
                env=embedded_env(staging),
                check=True,
                timeout=300,
            )
            # Only the database: a later start makes the rest of its data folder itself.
            done.parent.mkdir(exist_ok=True)
            shutil.copy2(staging / "aiportal.sqlite3", done)
            shutil.rmtree(staging, ignore_errors=True)
    return done


def referencing_tables_first(tables: list[str]) -> list[str]:
    """``tables`` ordered so that each comes before the tables its foreign keys point at. Some
    tables point at each other (a cycle, no such order): one of their links is ignored."""
    from django.apps import apps

    parents: dict[str, set[str]] = {table: set() for table in tables}
    for model in apps.get_models(include_auto_created=True):
        child = model._meta.db_table
        for field in model._meta.concrete_fields:
            if (field.many_to_one or field.one_to_one) and child in parents:
                parent = field.related_model._meta.db_table
                if parent != child and parent in parents:
                    parents[child].add(parent)
    # Depth first: a table is listed after its parents; the reverse puts it before them.
    seen: set[str] = set()
    order: list[str] = []

    def visit(table: str) -> None:
        if table not in seen:
            seen.add(table)
            for parent in sorted(parents[table]):
                visit(parent)
            order.append(table)

    for table in tables:
        visit(table)
    return order[::-1]


@pytest.fixture(scope="session", autouse=True)
def _flush_referencing_tables_first():
    """A ``transactional_db`` test ends with one ``TRUNCATE`` of every table, which takes
    each table's lock in the order listed (Django's: arbitrary). A real Daphne may still be
    writing then, e.g. the usage record it batches for up to 250 ms after a stream ended
    (gateway/usage.py): the INSERT holds gateway_usagerecord, and its COMMIT checks the
    deferred foreign key on accounts_user. A TRUNCATE that held accounts_user and waited for
    gateway_usagerecord deadlocked with it, and when PostgreSQL picked the TRUNCATE the next
    test found the previous one's rows. Locking referencing tables before the ones they
    reference makes the TRUNCATE wait for such a commit instead.

    Content types and permissions stay: the flush's post_migrate would create them again
    under new ids, while a session's Daphne keeps the old ids in its content-type cache (an
    admin change it logged then broke the log entry's foreign key)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    kept = {"django_content_type", "auth_permission"}

    def sql_flush(self, style, tables, **kwargs):
        flushed = [table for table in tables if table not in kept]
        return original(self, style, referencing_tables_first(flushed), **kwargs)

    # The order cannot cover a reader: a Daphne still finishing the last test's turn reads
    # tables under share locks in its own order, and PostgreSQL may then pick the TRUNCATE as
    # a deadlock's victim (seen once in 2,866 tests). The flush is one transaction, rolled
    # back whole by the deadlock: running it again once the reader has committed is safe.
    import psycopg

    original_execute = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for attempt in range(5):
            try:
                return original_execute(self, sql_list)
            except Exception as exc:
                if attempt == 4 or not isinstance(exc.__cause__, psycopg.errors.DeadlockDetected):
                    raise
                time.sleep(0.1 * (attempt + 1))

    DatabaseOperations.sql_flush = sql_flush
    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.sql_flush = original
    DatabaseOperations.execute_sql_flush = original_execute


@pytest.fixture(scope="session", autouse=True)
def _one_round_passwords():
    """Fast password hashing for the whole session (tests/hashers.py says why)."""
    from django.test.utils import override_settings

    override = override_settings(PASSWORD_HASHERS=["tests.hashers.OneRoundPBKDF2PasswordHasher"])
    override.enable()
    yield
    override.disable()


@pytest.fixture
def make_user(db):
    from accounts.services import user_create

    def make(email: str, *, is_staff: bool = False):
        return user_create(email=email, password=PASSWORD, is_staff=is_staff)

    return make


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com")


@pytest.fixture
def member(make_user):
    return make_user("member@example.com")


@pytest.fixture
def outsider(make_user):
    return make_user("outsider@example.com")


# --- Browser ------------------------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    """Run the browser tests last. Playwright's sync API keeps an event loop running in the
    main thread while its session lasts, and pytest-asyncio cannot start a test's loop inside
    it; with the browser tests at the end, no async test runs while Chromium is open.

    Under pytest-xdist this holds in every worker only with ``--dist load`` (what ./dev test
    uses): it hands each worker tests from the front of this collection order, so a worker
    gets its browser tests after all its others. ``loadfile``/``loadscope`` group by module
    and ``worksteal`` moves tests between workers, either of which can put an async test
    after a browser test in one worker."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()) or "chromium" in getattr(
            item, "fixturenames", ()
        ):
            item.add_marker(pytest.mark.browser)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps dialling Google's hosts, which this network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("AIPORTAL_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        raise RuntimeError(f"Chromium not found at {executable}: run the tests with ./dev test")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@contextlib.contextmanager
def sync_orm_beside_playwright() -> Iterator[None]:
    """For the plain synchronous ORM calls of a session fixture's teardown, which may run while
    Chromium is still open (Playwright's loop in this thread; see ``page``). Under xdist a worker
    that got only the browser tests of a directory sets up that directory's session fixtures
    after ``chromium``, and so tears them down before it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def page(chromium, monkeypatch):
    # Playwright's sync API runs an event loop in this thread between calls; the ORM calls
    # that a browser test makes in between are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def fresh_channel_layer():
    """For tests that drive the ASGI application in this process: a channel layer holds
    connections of the event loop it first ran in, and each test has its own loop. So each
    test starts with a new layer object, and an empty one (ids repeat across tests: groups
    must not carry members over)."""
    import asyncio
    import threading

    from channels.layers import channel_layers

    channel_layers.backends.clear()
    layer = channel_layers["default"]
    if hasattr(layer, "flush"):
        # In a thread of its own: a browser test's thread already runs Playwright's loop.
        flusher = threading.Thread(target=asyncio.run, args=(layer.flush(),))
        flusher.start()
        flusher.join()
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
