"""A real OpenLDAP server (Debian's slapd) for the LDAP tests: started once per test session
on a free loopback port from a temporary slapd.conf in a fresh folder, and seeded through
python-ldap with what each test adds (and removes again when the test ends)."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap
import ldap.modlist
import pytest

from tests.conftest import Process, free_port

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
# The portal's own read-only account, as a directory administrator would make one.
SERVICE_DN = f"cn=portal,{SUFFIX}"
SERVICE_PASSWORD = "portal-service-secret"
SLAPD = "/usr/sbin/slapd"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

_CONFIG = """\
{includes}
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {dir}/db
# Only the portal's account (and the root) may search; people may bind as themselves.
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{service_dn}" read by self read by * none
"""


def _ldif(attrs: dict[str, list[str] | str]) -> list[tuple[str, list[bytes]]]:
    return ldap.modlist.addModlist(
        {k: [v.encode() for v in ([vs] if isinstance(vs, str) else vs)] for k, vs in attrs.items()}
    )


@dataclass
class Directory:
    """The running slapd, and what a test put in it."""

    uri: str
    _added: list[str] = field(default_factory=list)

    def connect(self):
        conn = ldap.initialize(self.uri)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def _add(self, dn: str, attrs: dict) -> str:
        conn = self.connect()
        try:
            conn.add_s(dn, _ldif(attrs))
        finally:
            conn.unbind_s()
        self._added.append(dn)
        return dn

    def add_person(self, uid: str, *, email: str, password: str, given: str = "Ada") -> str:
        return self._add(
            f"uid={uid},{PEOPLE}",
            {
                "objectClass": ["inetOrgPerson"],
                "uid": uid,
                "cn": f"{given} {uid}",
                "givenName": given,
                "sn": uid.capitalize(),
                "mail": email,
                "userPassword": password,
            },
        )

    def add_group(self, name: str, *members: str) -> str:
        # groupOfNames needs a member: the root DN stays in every group, so that the last
        # person may leave it.
        return self._add(
            f"cn={name},{GROUPS}",
            {"objectClass": ["groupOfNames"], "cn": name, "member": [ROOT_DN, *members]},
        )

    def _members(self, group_dn: str, op: int, member: str) -> None:
        conn = self.connect()
        try:
            conn.modify_s(group_dn, [(op, "member", [member.encode()])])
        finally:
            conn.unbind_s()

    def join(self, group_dn: str, member: str) -> None:
        self._members(group_dn, ldap.MOD_ADD, member)

    def leave(self, group_dn: str, member: str) -> None:
        self._members(group_dn, ldap.MOD_DELETE, member)

    def delete(self, dn: str) -> None:
        conn = self.connect()
        try:
            conn.delete_s(dn)
        finally:
            conn.unbind_s()
        self._added.remove(dn)

    def clear(self) -> None:
        conn = self.connect()
        try:
            for dn in reversed(self._added):
                conn.delete_s(dn)
        finally:
            conn.unbind_s()
        self._added.clear()


@pytest.fixture(scope="session")
def slapd_uri() -> Iterator[str]:
    if not Path(SLAPD).exists():
        raise RuntimeError(f"no {SLAPD}: run the tests with ./dev test, which installs slapd")
    folder = Path(tempfile.mkdtemp(prefix="aiportal-slapd-"))
    (folder / "db").mkdir()
    includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    config = folder / "slapd.conf"
    config.write_text(
        _CONFIG.format(
            includes=includes,
            dir=folder,
            suffix=SUFFIX,
            root_dn=ROOT_DN,
            root_password=ROOT_PASSWORD,
            service_dn=SERVICE_DN,
        )
    )
    uri = f"ldap://127.0.0.1:{free_port()}"
    # -d 0: stay in the foreground (so the fixture owns the process) without debug output.
    process = Process([SLAPD, "-f", str(config), "-h", f"{uri}/", "-d", "0"])
    try:
        _wait_for(uri, process)
        directory = Directory(uri)
        conn = directory.connect()
        conn.add_s(
            SUFFIX,
            _ldif({"objectClass": ["dcObject", "organization"], "dc": "example", "o": "Example"}),
        )
        for unit in ("people", "groups"):
            conn.add_s(
                f"ou={unit},{SUFFIX}", _ldif({"objectClass": ["organizationalUnit"], "ou": unit})
            )
        conn.add_s(
            SERVICE_DN,
            _ldif(
                {
                    "objectClass": ["organizationalRole", "simpleSecurityObject"],
                    "cn": "portal",
                    "userPassword": SERVICE_PASSWORD,
                }
            ),
        )
        conn.unbind_s()
        yield uri
    finally:
        process.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(uri: str, process: Process, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            break
        try:
            conn = ldap.initialize(uri)
            conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
            conn.unbind_s()
            return
        except ldap.SERVER_DOWN:
            time.sleep(0.05)
    process.stop()
    raise RuntimeError(f"slapd did not start:\n{''.join(process.output)}")


@pytest.fixture
def directory(slapd_uri) -> Iterator[Directory]:
    directory = Directory(slapd_uri)
    yield directory
    directory.clear()


def uid_of(dn: str) -> str:
    return re.match(r"uid=([^,]+)", dn).group(1)
