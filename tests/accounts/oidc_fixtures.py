"""A real OpenID provider (tests/accounts/oidc_provider/server.mjs, the `oidc-provider` npm
package) and Daphnes configured to sign in through it, plus a small HTTP "browser" that walks
the redirect flow between the two. Imported by the tests/accounts/test_oidc*.py modules;
the fixtures are named ``idp``,
``sso_site`` and ``browser`` (their functions end in ``_fixture`` so that importing them
does not shadow the test arguments)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.conftest import ROOT, Process, _database_url, start_daphne

PROVIDER_ID = "testidp"
PROVIDER_NAME = "Test IdP"
# An app an admin adds as a Social application (not from the environment).
ADMIN_PROVIDER_ID = "adminidp"
CLIENT_ID = "aiportal-test"
CLIENT_SECRET = "test-client-secret-not-a-real-one"
_READY = re.compile(r"READY (http://\S+)")
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def callback_path(provider_id: str) -> str:
    return f"/accounts/oidc/{provider_id}/login/callback/"


@dataclass
class Idp:
    url: str

    def account(
        self,
        sub: str,
        *,
        email: str | None,
        email_verified: bool = True,
        groups: list[str] | None = None,
    ) -> None:
        """Create or replace an account at the provider (its claims at the next sign-in)."""
        claims: dict[str, object] = {"sub": sub, "name": sub.title()}
        if email is not None:
            claims |= {"email": email, "email_verified": email_verified}
        if groups is not None:
            claims["groups"] = groups
        httpx.post(f"{self.url}/_test/accounts", json=claims, timeout=5).raise_for_status()


@pytest.fixture(scope="session", name="idp")
def idp_fixture() -> Iterator[Idp]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("the SSO tests need node and `npm ci` (oidc-provider): use ./dev test")
    process = Process(
        [
            node,
            str(ROOT / "tests" / "accounts" / "oidc_provider" / "server.mjs"),
            "--port",
            "0",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--callback-path",
            callback_path(PROVIDER_ID),
            "--callback-path",
            callback_path(ADMIN_PROVIDER_ID),
        ]
    )
    url = process.wait_for_line(_READY).group(1)
    yield Idp(url)
    process.stop()


def oidc_env(idp: Idp) -> dict[str, str]:
    prefix = f"AIPORTAL_OIDC_{PROVIDER_ID.upper()}_"
    return {
        "AIPORTAL_OIDC_PROVIDERS": PROVIDER_ID,
        f"{prefix}NAME": PROVIDER_NAME,
        f"{prefix}SERVER_URL": idp.url,
        f"{prefix}CLIENT_ID": CLIENT_ID,
        f"{prefix}CLIENT_SECRET": CLIENT_SECRET,
        f"{prefix}SCOPES": "openid,email,profile,groups",
        f"{prefix}GROUPS_CLAIM": "groups",
    }


def start_sso_site(django_db_blocker, idp: Idp, **env: str) -> tuple[Process, str]:
    with django_db_blocker.unblock():
        database_url = _database_url()
    return start_daphne({"DATABASE_URL": database_url, **oidc_env(idp), **env})


@pytest.fixture(scope="session", name="sso_site")
def sso_site_fixture(django_db_setup, django_db_blocker, idp) -> Iterator[str]:
    """A Daphne whose sign-up is open, with the test provider configured from the
    environment. Tests that use it need ``transactional_db``."""
    process, url = start_sso_site(django_db_blocker, idp, AIPORTAL_SIGNUP="open")
    yield url
    process.stop()


@dataclass
class Flow:
    """What a browser went through: the client (its cookies) and every response."""

    client: httpx.Client
    responses: list[httpx.Response]

    @property
    def last(self) -> httpx.Response:
        return self.responses[-1]

    @property
    def session_key(self) -> str | None:
        return self.client.cookies.get("sessionid")


class Browser:
    """Follows redirects itself, between the site and the provider only: a redirect
    anywhere else (an open redirect) is recorded and not followed."""

    def __init__(self, site: str, idp: Idp) -> None:
        self.site, self.idp = site, idp
        self.client = httpx.Client(timeout=30)
        self._hosts = {urlsplit(site).netloc, urlsplit(idp.url).netloc}

    def close(self) -> None:
        self.client.close()

    def go(self, method: str, url: str, **kwargs) -> Flow:
        responses = []
        response = self.client.request(method, url, **kwargs)
        responses.append(response)
        for _ in range(20):
            if not response.is_redirect:
                break
            target = urljoin(str(response.url), response.headers["location"])
            if urlsplit(target).netloc not in self._hosts:
                break
            response = self.client.get(target)
            responses.append(response)
        return Flow(self.client, responses)

    def sso_start(self, provider_id: str = PROVIDER_ID, **params: str) -> Flow:
        """Click "Sign in with ..." on the sign-in page."""
        return self.go(
            "GET",
            f"{self.site}/accounts/oidc/{provider_id}/login/",
            params={"process": "login", **params},
        )

    def idp_login(self, page: httpx.Response, sub: str) -> Flow:
        """Sign in at the provider's page that ``page`` is."""
        assert page.status_code == 200 and str(page.url).startswith(self.idp.url), page.text
        action = _FORM_ACTION.search(page.text).group(1)
        return self.go("POST", urljoin(str(page.url), action), data={"login": sub})

    def sso_login(self, sub: str, provider_id: str = PROVIDER_ID, **params: str) -> Flow:
        start = self.sso_start(provider_id, **params)
        done = self.idp_login(start.last, sub)
        return Flow(self.client, start.responses + done.responses)


@pytest.fixture(name="browser")
def browser_fixture(sso_site, idp) -> Iterator[Browser]:
    browser = Browser(sso_site, idp)
    yield browser
    browser.close()


def signed_in_user_id(flow: Flow) -> int | None:
    """Whose session the browser holds, read from the session store (None: signed out)."""
    from django.contrib.sessions.backends.db import SessionStore

    key = flow.session_key
    if not key:
        return None
    user_id = SessionStore(session_key=key).get("_auth_user_id")
    return int(user_id) if user_id else None
