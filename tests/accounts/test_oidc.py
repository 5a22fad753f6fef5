"""SSO end to end: a real Daphne, a real OpenID provider (tests/accounts/oidc_fixtures.py) and
the browser's redirects between them. Who gets in, who is linked to what, who is refused, the
groups the claim manages, signing out, and twenty first logins at once.

One module on purpose: its Daphnes start once for all of these tests."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db.models import Q

from accounts.models import User
from accounts.sso.models import SsoGroup
from gateway.callers import policies_version
from tests.accounts.oidc_fixtures import (  # noqa: F401  (fixtures)
    ADMIN_PROVIDER_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    PROVIDER_ID,
    PROVIDER_NAME,
    Browser,
    browser_fixture,
    idp_fixture,
    signed_in_user_id,
    sso_site_fixture,
    start_sso_site,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("transactional_db")


def refusal(flow) -> str:
    assert flow.last.status_code == 403, flow.last.text
    assert signed_in_user_id(flow) is None
    return html.unescape(flow.last.text)


def page_text(markup: str) -> str:
    """The words of a page, for an assertion message that says which refusal it was."""
    main = markup.split("<main", 1)[-1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def group_names(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def version() -> str:
    return async_to_sync(policies_version)()


# --- Signing in -----------------------------------------------------------------------------


def test_a_first_login_creates_an_active_account_and_the_next_signs_in_to_it(idp, sso_site):
    idp.account("ana", email="Ana@Example.org")

    first = Browser(sso_site, idp).sso_login("ana")

    assert first.last.status_code == 200
    assert first.last.url.path == "/"
    user = User.objects.get(email__iexact="ana@example.org")
    assert signed_in_user_id(first) == user.pk
    assert (user.status, user.is_staff, user.is_superuser) == ("active", False, False)
    assert not user.has_usable_password()
    assert EmailAddress.objects.filter(user=user, verified=True).count() == 1
    assert SocialAccount.objects.get(user=user).provider == PROVIDER_ID

    second = Browser(sso_site, idp).sso_login("ana")

    assert signed_in_user_id(second) == user.pk
    assert User.objects.count() == SocialAccount.objects.count() == 1


def test_it_links_a_local_account_when_both_sides_verified_the_address(idp, browser, make_user):
    local = make_user("cleo@example.org")  # user_create verifies the address
    idp.account("cleo-at-idp", email="CLEO@example.org")

    flow = browser.sso_login("cleo-at-idp")

    assert signed_in_user_id(flow) == local.pk
    assert SocialAccount.objects.get(uid="cleo-at-idp").user == local
    assert User.objects.count() == 1
    local.refresh_from_db()
    assert local.check_password(PASSWORD)  # linking leaves the password sign-in alone


def test_it_never_links_an_unverified_address_nor_an_admin_account(idp, sso_site, make_user):
    make_user("dana@example.org")
    idp.account("dana-at-idp", email="dana@example.org", email_verified=False)
    eve = make_user("eve@example.org")
    EmailAddress.objects.filter(user=eve).update(verified=False)
    idp.account("eve-at-idp", email="eve@example.org")

    make_user("root@example.org", is_staff=True)
    idp.account("root-at-idp", email="root@example.org")

    unverified_there = refusal(Browser(sso_site, idp).sso_login("dana-at-idp"))
    unverified_here = refusal(Browser(sso_site, idp).sso_login("eve-at-idp"))
    admin = refusal(Browser(sso_site, idp).sso_login("root-at-idp"))

    assert "An account with the address dana@example.org already exists" in unverified_there
    assert f"{PROVIDER_NAME} has not verified it" in unverified_there
    assert "sign in with your password and verify the address" in unverified_here
    assert "belongs to an administrator's account" in admin
    assert not SocialAccount.objects.exists()


def test_it_makes_no_account_for_an_unverified_or_missing_address(idp, sso_site):
    idp.account("finn", email="finn@example.org", email_verified=False)
    idp.account("gus", email=None)

    unverified = refusal(Browser(sso_site, idp).sso_login("finn"))
    missing = refusal(Browser(sso_site, idp).sso_login("gus"))

    assert "has not verified the address finn@example.org" in unverified
    assert "did not send an email address" in missing
    assert not User.objects.exists()


@pytest.fixture(scope="module")
def closed_site(django_db_setup, django_db_blocker, idp) -> Iterator[str]:
    process, url = start_sso_site(django_db_blocker, idp, AIPORTAL_SIGNUP="closed")
    yield url
    process.stop()


def test_a_closed_signup_refuses_a_first_login_but_links_an_account(idp, closed_site, make_user):
    idp.account("hana", email="hana@example.org")
    idp.account("ivo", email="ivo@example.org")
    ivo = make_user("ivo@example.org")

    text = refusal(Browser(closed_site, idp).sso_login("hana"))
    linked = Browser(closed_site, idp).sso_login("ivo")

    assert "Sign-up is closed: ask an administrator for an account." in text
    assert not User.objects.filter(email="hana@example.org").exists()
    assert signed_in_user_id(linked) == ivo.pk


def test_next_on_the_sso_login_stays_on_the_site(idp, sso_site):
    idp.account("jo", email="jo@example.org")
    for outside in ("https://evil.example/x", "//evil.example/x", "/\\evil.example", "http:x"):
        flow = Browser(sso_site, idp).sso_login("jo", next=outside)

        assert signed_in_user_id(flow) is not None, outside
        assert str(flow.last.url) == f"{sso_site}/", outside
        assert not any("evil.example" in r.headers.get("location", "") for r in flow.responses)

    inside = Browser(sso_site, idp).sso_login("jo", next="/datasets/")

    assert str(inside.last.url) == f"{sso_site}/datasets/"


def test_the_sign_in_page_has_a_button_per_provider_and_admin_apps_work(idp, browser, sso_site):
    SocialApp.objects.create(
        provider="openid_connect",
        provider_id=ADMIN_PROVIDER_ID,
        name="Admin IdP",
        client_id=CLIENT_ID,
        secret=CLIENT_SECRET,
        settings={"server_url": idp.url, "groups_claim": "groups"},
    )
    page = browser.client.get(f"{sso_site}/accounts/login/", params={"next": "/datasets/"})
    text = html.unescape(page.text)
    assert f"Sign in with {PROVIDER_NAME}" in text
    assert "Sign in with Admin IdP" in text
    assert f"/accounts/oidc/{PROVIDER_ID}/login/?process=login&next=%2Fdatasets%2F" in text

    idp.account("lea", email="lea@example.org")
    flow = browser.sso_login("lea", provider_id=ADMIN_PROVIDER_ID)

    user = User.objects.get(email="lea@example.org")
    assert signed_in_user_id(flow) == user.pk
    assert SocialAccount.objects.get(user=user).provider == ADMIN_PROVIDER_ID


# --- Groups ---------------------------------------------------------------------------------


def test_groups_follow_the_claim_and_hand_given_groups_stay(idp, sso_site):
    # A group an admin made whose name the claim would give: never taken over.
    Group.objects.create(name=f"{PROVIDER_ID}:finance")
    research = Group.objects.create(name="Research")
    # An admin maps a claim value (an Entra ID object id, say) to a group of their choosing.
    SsoGroup.objects.create(group=research, provider_id=PROVIDER_ID, claim_value="0f3c-77aa")
    idp.account("mia", email="mia@example.org", groups=["eng", "ops", "finance", "0f3c-77aa"])

    Browser(sso_site, idp).sso_login("mia")

    mia = User.objects.get(email="mia@example.org")
    assert group_names(mia) == {f"{PROVIDER_ID}:eng", f"{PROVIDER_ID}:ops", "Research"}
    mia.groups.add(Group.objects.create(name="portal-admins"))

    idp.account("mia", email="mia@example.org", groups=["eng", "sales"])
    before = version()
    Browser(sso_site, idp).sso_login("mia")

    assert group_names(mia) == {f"{PROVIDER_ID}:eng", f"{PROVIDER_ID}:sales", "portal-admins"}
    assert version() != before  # the gateway and dataset grants re-read access
    mia.refresh_from_db()
    assert (mia.is_staff, mia.is_superuser) == (False, False)

    # The same claim again: nothing written, no cache emptied.
    unchanged = version()
    Browser(sso_site, idp).sso_login("mia")
    assert version() == unchanged


def test_a_login_without_the_claim_leaves_no_managed_group(idp, sso_site):
    idp.account("noa", email="noa@example.org", groups=["eng"])
    Browser(sso_site, idp).sso_login("noa")
    noa = User.objects.get(email="noa@example.org")
    assert group_names(noa) == {f"{PROVIDER_ID}:eng"}

    idp.account("noa", email="noa@example.org")  # no groups claim at all any more
    Browser(sso_site, idp).sso_login("noa")

    assert group_names(noa) == set()
    assert Group.objects.filter(name=f"{PROVIDER_ID}:eng").exists()  # the group itself stays


# --- Signing out ----------------------------------------------------------------------------


def _sign_out(browser: Browser, site: str):
    return browser.client.post(
        f"{site}/accounts/logout/",
        data={"csrfmiddlewaretoken": browser.client.cookies["csrftoken"]},
    )


def test_sign_out_ends_the_session_here_and_at_the_provider(idp, browser, sso_site, make_user):
    idp.account("pia", email="pia@example.org")
    session_key = browser.sso_login("pia").session_key

    out = _sign_out(browser, sso_site)

    assert out.status_code == 302
    assert not Session.objects.filter(session_key=session_key).exists()
    target = urlsplit(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{idp.url}/session/end"
    query = parse_qs(target.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["post_logout_redirect_uri"] == [f"{sso_site}/accounts/login/"]

    # The provider asks to confirm; confirming brings the browser back to the sign-in page.
    confirm = browser.client.get(out.headers["location"])
    action = re.search(r'<form[^>]*action="([^"]+)"', confirm.text).group(1)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', confirm.text).group(1)
    back = browser.go("POST", urljoin(str(confirm.url), action), data={"xsrf": xsrf, "logout": "y"})
    assert str(back.last.url) == f"{sso_site}/accounts/login/"
    # The provider's session is gone: the next SSO sign-in asks for the password again.
    assert str(browser.sso_start().last.url).startswith(f"{idp.url}/interaction/")

    # A password sign-in's sign-out stays on the site.
    make_user("quin@example.org")
    local = Browser(sso_site, idp)
    page = local.client.get(f"{sso_site}/accounts/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    local.client.post(
        f"{sso_site}/accounts/login/",
        data={"csrfmiddlewaretoken": csrf, "login": "quin@example.org", "password": PASSWORD},
    )
    assert _sign_out(local, sso_site).headers["location"] == "/accounts/login/"


# --- Many at once ---------------------------------------------------------------------------


def test_twenty_concurrent_first_logins_make_one_account_each_and_no_admin(idp, sso_site):
    """Ten browsers of one new person and ten of ten other new people reach the callback
    together (a barrier holds them until all have the provider's sign-in page)."""
    subs = ["crowd"] * 10 + [f"crowd-{i}" for i in range(10)]
    for sub in set(subs):
        idp.account(sub, email=f"{sub}@example.org", groups=["crowd"])
    barrier = threading.Barrier(len(subs), timeout=60)

    def sign_in(sub: str):
        browser = Browser(sso_site, idp)
        page = browser.sso_start().last
        barrier.wait()
        flow = browser.idp_login(page, sub)
        reason = "" if flow.last.status_code == 200 else page_text(flow.last.text)
        return sub, flow.last.status_code, str(flow.last.url), flow.session_key, reason

    with ThreadPoolExecutor(len(subs)) as pool:
        results = list(pool.map(sign_in, subs))

    refused = [(sub, reason) for sub, status, _, _, reason in results if status != 200]
    assert not refused, refused
    assert [(status, url) for _, status, url, _, _ in results] == [(200, f"{sso_site}/")] * 20
    for sub in set(subs):
        assert User.objects.filter(email=f"{sub}@example.org").count() == 1
    assert User.objects.count() == SocialAccount.objects.count() == 11
    assert not User.objects.filter(Q(is_staff=True) | Q(is_superuser=True)).exists()
    signed_in = {sub: set() for sub in subs}
    for sub, _, _, key, _ in results:
        signed_in[sub].add(int(Session.objects.get(session_key=key).get_decoded()["_auth_user_id"]))
    assert signed_in["crowd"] == {User.objects.get(email="crowd@example.org").pk}
    crowd = Group.objects.get(name=f"{PROVIDER_ID}:crowd")
    assert SsoGroup.objects.filter(provider_id=PROVIDER_ID, claim_value="crowd").count() == 1
    assert crowd.user_set.count() == 11


def test_someone_signed_in_links_their_idp_account_from_connected_accounts(idp, browser, sso_site):
    """The explicit way to link when the addresses differ or one is unverified."""
    local = User.objects.create_user(username="rae", email="rae@example.org", password=PASSWORD)
    idp.account("rae-elsewhere", email="rae.private@example.net", email_verified=False)
    page = browser.client.get(f"{sso_site}/accounts/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    browser.client.post(
        f"{sso_site}/accounts/login/",
        data={"csrfmiddlewaretoken": csrf, "login": "rae@example.org", "password": PASSWORD},
    )
    connections = browser.client.get(f"{sso_site}/accounts/3rdparty/")
    assert f"/accounts/oidc/{PROVIDER_ID}/login/?process=connect" in html.unescape(connections.text)

    flow = browser.sso_login("rae-elsewhere", process="connect")

    assert signed_in_user_id(flow) == local.pk
    assert SocialAccount.objects.get(uid="rae-elsewhere").user == local
    assert User.objects.count() == 1


# --- In a browser ---------------------------------------------------------------------------


@pytest.mark.browser
def test_a_person_clicks_the_sso_button_and_comes_back_signed_in_where_they_were(
    idp, sso_site, page
):
    """In Chromium, which applies the CSP (the button is a link for its form-action)."""
    from playwright.sync_api import expect

    idp.account("sol", email="sol@example.org")
    page.goto(f"{sso_site}/datasets/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/datasets/$"))

    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(idp.url)}/interaction/"))
    page.fill("input[name=login]", "sol")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{sso_site}/datasets/")
    assert User.objects.filter(email="sol@example.org").exists()
