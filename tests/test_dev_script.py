"""`./dev up` serves the embedded default, keeps serving while an emulated worker is restarted,
names the child that took it down, and stops every process it started when told to.

These run the real script as a newcomer would, so they need no test database: `./dev up` makes
its own SQLite file in a temporary data directory. The first test installs from nothing; the
others are about running, not installing, so they start from a copy of a data directory
migrated once for the module (a fresh SQLite migrate is several seconds of each start).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Whatever ./dev test exported for the suite must not leak in: `up` is the embedded default.
NOT_INHERITED = {
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "REDIS_URL",
    "REDIS_URL_FILE",
    "AIPORTAL_WORKERS",
    "AIPORTAL_EMBEDDING_MODEL",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "AIPORTAL_DATA_DIR",
    "AIPORTAL_STATIC_ROOT",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid``, with its command line (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may itself hold spaces or parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = cmdline(child)
                frontier.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left to collect


class DevUp:
    """`./dev up` in the background, with its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.children: dict[int, str] = {}  # filled by the test once the server is up
        self.proc = subprocess.Popen(
            [str(ROOT / "dev"), "up"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, so a failed test can still clean up everything below it.
            start_new_session=True,
        )
        # Drained all along: a full pipe would block daphne's logging and hang the server.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def dev_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        PORT=str(free_port()),
        AIPORTAL_DATA_DIR=str(tmp_path / "data"),
        AIPORTAL_STATIC_ROOT=str(tmp_path / "static"),
        AIPORTAL_ADMIN_EMAIL="admin@example.com",
        AIPORTAL_ADMIN_PASSWORD="a-long-test-password-1",
    )
    return env


@pytest.fixture(scope="module")
def migrated_data(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path) -> Path:
    """A data directory with the embedded default's database migrated and nothing else in it
    (no admin, no secret key): what a second `./dev up` finds, less the admin. The database is
    the run's migrated SQLite file (tests/conftest.py), migrated once for every test that runs
    the embedded default."""
    data = tmp_path_factory.mktemp("dev-migrated") / "data"
    data.mkdir()
    shutil.copy(migrated_sqlite, data / "aiportal.sqlite3")
    return data


@pytest.fixture
def migrated_env(dev_env: dict[str, str], migrated_data: Path) -> dict[str, str]:
    shutil.copytree(migrated_data, dev_env["AIPORTAL_DATA_DIR"])
    return dev_env


def _dev_up(env: dict[str, str]) -> Iterator[DevUp]:
    dev = DevUp(env)
    yield dev
    # Whatever the test did, leave nothing behind.
    if dev.proc.poll() is None:
        os.killpg(dev.proc.pid, signal.SIGKILL)
        dev.proc.wait(timeout=10)
    for pid in dev.children:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def dev_up(dev_env: dict[str, str]) -> Iterator[DevUp]:
    yield from _dev_up(dev_env)


@pytest.fixture
def migrated_dev_up(migrated_env: dict[str, str]) -> Iterator[DevUp]:
    yield from _dev_up(migrated_env)


def await_up(dev: DevUp, base: str) -> None:
    # Generous: these run among the suite's last tests, when two cores are busiest, and a
    # start there took over 90 s (the clean-clone run of 2026-12-07).
    deadline = time.monotonic() + 240
    while http_status(f"{base}/healthz") != 200 or "aiportal is up" not in dev.output:
        assert dev.proc.poll() is None, f"./dev up exited early:\n{dev.output}"
        assert time.monotonic() < deadline, f"/healthz never answered 200:\n{dev.output}"
        time.sleep(0.25)


def await_line(dev: DevUp, pattern: str, timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = re.search(pattern, dev.output)
        if found:
            return found
        assert time.monotonic() < deadline, f"no line matching {pattern!r}:\n{dev.output}"
        time.sleep(0.1)


def dev_run(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``./dev ARGS`` to its end, its output captured."""
    return subprocess.run(
        [str(ROOT / "dev"), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stop(dev: DevUp) -> None:
    dev.proc.send_signal(signal.SIGTERM)
    assert dev.proc.wait(timeout=15) == 0, dev.output


@pytest.mark.timeout(300)  # see await_up
def test_up_serves_the_embedded_default_and_stops_every_child(dev_up, dev_env):
    base = f"http://127.0.0.1:{dev_env['PORT']}"
    await_up(dev_up, base)
    # A first run: it migrates an empty folder and makes the admin its variables name.
    assert "Created admin admin@example.com" in dev_up.output

    assert http_status(f"{base}/accounts/login/") == 200

    workers = dict(re.findall(r"emulated vLLM worker (\S+) at (http://\S+)", dev_up.output))
    assert set(workers) == {"local-a", "local-b"}, dev_up.output
    for url in workers.values():
        assert http_status(f"{url}/health") == 200, url

    children = dev_up.children = descendants(dev_up.proc.pid)
    commands = list(children.values())
    assert sum("aiportal.serve" in c for c in commands) == 1, commands
    assert sum("gateway.emulator" in c for c in commands) == 2, commands
    # The emulators embed, so the site searches datasets by meaning out of the box.
    (server,) = [pid for pid, c in children.items() if "aiportal.serve" in c]
    environ = Path(f"/proc/{server}/environ").read_bytes().split(b"\0")
    assert b"AIPORTAL_EMBEDDING_MODEL=aiportal-emulator" in environ

    dev_up.proc.send_signal(signal.SIGTERM)
    assert dev_up.proc.wait(timeout=10) == 0, dev_up.output

    survivors = {pid: cmd for pid, cmd in children.items() if is_running(pid)}
    assert survivors == {}, "./dev up left processes behind"
    assert http_status(f"{base}/healthz") is None
    for url in workers.values():
        assert http_status(f"{url}/health") is None, f"{url} still answers"


def test_up_refuses_a_port_that_is_taken(dev_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        dev_env["PORT"] = str(taken.getsockname()[1])
        result = dev_run("up", env=dev_env, timeout=30)
    assert result.returncode != 0
    assert f"port {dev_env['PORT']} is already in use" in result.stderr


def test_an_unknown_command_shows_the_usage_and_fails():
    result = subprocess.run(
        [str(ROOT / "dev"), "frobnicate"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "usage: ./dev COMMAND" in result.stderr


@pytest.mark.timeout(400)  # a start, two restarts and a stop: see await_up
def test_a_killed_emulator_is_restarted_but_a_dead_web_server_stops_everything(
    migrated_dev_up, migrated_env
):
    dev_up, dev_env = migrated_dev_up, migrated_env
    base = f"http://127.0.0.1:{dev_env['PORT']}"
    await_up(dev_up, base)
    workers = dict(re.findall(r"emulated vLLM worker (\S+) at (http://\S+)", dev_up.output))
    emulators = {
        pid: command
        for pid, command in descendants(dev_up.proc.pid).items()
        if "gateway.emulator" in command and "local-a" in command
    }
    assert len(emulators) == 1, emulators
    (victim,) = emulators
    os.kill(victim, signal.SIGKILL)

    await_line(dev_up, rf"worker local-a \(pid {victim}\) exited with status 137;.*keeps serving")
    # Down, not stopped: the site and the other worker still answer while local-a is away.
    assert dev_up.proc.poll() is None, dev_up.output
    assert http_status(f"{base}/healthz") == 200
    assert http_status(f"{workers['local-b']}/health") == 200
    await_line(dev_up, r"restarting the emulated vLLM worker local-a at " + workers["local-a"])
    deadline = time.monotonic() + 30
    while http_status(f"{workers['local-a']}/health") != 200:
        assert time.monotonic() < deadline, f"local-a never came back:\n{dev_up.output}"
        time.sleep(0.2)
    children = dev_up.children = descendants(dev_up.proc.pid)
    assert sum("gateway.emulator" in c for c in children.values()) == 2, children
    assert victim not in children

    # Dying again within the minute doubles the pause: a crash loop does not spin.
    (again,) = [pid for pid, c in children.items() if "gateway.emulator" in c and "local-a" in c]
    os.kill(again, signal.SIGKILL)
    await_line(dev_up, rf"\(pid {again}\) exited with status 137;.*restarting local-a in 2 s")
    while http_status(f"{workers['local-a']}/health") != 200:
        assert time.monotonic() < deadline + 30, f"local-a never came back:\n{dev_up.output}"
        time.sleep(0.2)
    children = dev_up.children = descendants(dev_up.proc.pid)

    # Daphne is not restarted: the site is gone, so everything stops (the restarted
    # emulator too) and the output names the process that took it down.
    (daphne,) = [pid for pid, command in children.items() if "aiportal.serve" in command]
    os.kill(daphne, signal.SIGKILL)

    assert dev_up.proc.wait(timeout=15) != 0
    assert f"the web server (Daphne) (pid {daphne}) exited with status 137: stopping" in (
        dev_up.output
    )
    assert {pid: c for pid, c in children.items() if is_running(pid)} == {}


@pytest.mark.timeout(300)  # see await_up
def test_a_second_run_without_the_admin_variables_names_the_admin_that_exists(migrated_env):
    dev_env = migrated_env
    base = f"http://127.0.0.1:{dev_env['PORT']}"
    # What the first run left: the admin its variables named (the first run itself, from an
    # empty folder, is the test above; a second start here would double this test's time).
    first = dev_run("manage", "ensure_admin", env=dev_env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Created admin admin@example.com" in first.stdout
    for name in ("AIPORTAL_ADMIN_EMAIL", "AIPORTAL_ADMIN_PASSWORD"):
        del dev_env[name]

    second = DevUp(dev_env)
    try:
        await_up(second, base)
        assert "dev: admin: admin@example.com at " in second.output
        assert "changepassword admin@example.com" in second.output
        assert "admin@localhost" not in second.output
    finally:
        stop(second)
