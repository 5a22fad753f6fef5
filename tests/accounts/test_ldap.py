"""LDAP sign-in against a real slapd (tests/accounts/ldap_fixtures.py), through allauth's
real sign-in form at /accounts/login/."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group
from django.utils.html import escape

from accounts.models import User
from accounts.signin.ldap import ldap_settings
from accounts.signin.ldap_backend import DIRECTORY_FAILED, DIRECTORY_UNREACHABLE
from common.env import ConfigError
from tests.accounts import ldap_fixtures
from tests.accounts.ldap_fixtures import GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD
from tests.conftest import PASSWORD, free_port

# The slapd fixtures, kept in their own file (not a conftest.py) and brought in by name.
slapd_uri = ldap_fixtures.slapd_uri
directory = ldap_fixtures.directory

LDAP_PASSWORD = "directory password 7"
WRONG_PASSWORD_ERROR = "The email address and/or password you specified are not correct."


def environment(uri: str, **extra: str) -> dict[str, str]:
    return {
        "AIPORTAL_LDAP_URI": uri,
        "AIPORTAL_LDAP_BIND_DN": SERVICE_DN,
        "AIPORTAL_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
        "AIPORTAL_LDAP_USER_SEARCH_BASE": PEOPLE,
        "AIPORTAL_LDAP_GROUP_SEARCH_BASE": GROUPS,
        **extra,
    }


@pytest.fixture
def ldap_on(settings, slapd_uri):
    """Turns LDAP on, as settings.py does from these variables; call it with more."""
    # Refused sign-ins from 127.0.0.1 add up over the suite: allauth's per-address limit
    # and the guessing limits (tests/security/test_login_guessing.py has its own) must not
    # turn one of these into a 429.
    settings.ACCOUNT_RATE_LIMITS = False
    settings.AIPORTAL_SIGNIN_PAIR_LIMITS = settings.AIPORTAL_SIGNIN_ADDRESS_LIMITS = ""

    def apply(uri: str = slapd_uri, **extra: str) -> None:
        for name, value in ldap_settings(environment(uri, **extra)).items():
            setattr(settings, name, value)
        backend = "accounts.signin.ldap_backend.DirectoryBackend"
        settings.AUTHENTICATION_BACKENDS = [
            *(b for b in settings.AUTHENTICATION_BACKENDS if b != backend),
            backend,
        ]

    apply()
    return apply


def sign_in(client, login: str, password: str):
    return client.post("/accounts/login/", {"login": login, "password": password})


def signed_in_as(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


# --- Signing in ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_first_sign_in_creates_the_account_from_the_directory(client, ldap_on, directory):
    directory.add_person("ada", email="Ada@Example.org", password=LDAP_PASSWORD, given="Ada")
    assert not User.objects.filter(email__iexact="ada@example.org").exists()

    response = sign_in(client, "ada@example.org", LDAP_PASSWORD)

    assert response.status_code == 302 and response["Location"] == "/"
    user = signed_in_as(client)
    assert user.email == "ada@example.org" and user.username == "ada@example.org"
    assert (user.first_name, user.last_name) == ("Ada", "Ada")
    assert user.status == User.Status.ACTIVE
    assert not user.has_usable_password()
    assert not user.is_staff and not user.is_superuser
    assert EmailAddress.objects.get(user=user).verified


@pytest.mark.django_db
def test_the_directory_user_name_signs_in_to_the_same_account(client, ldap_on, directory):
    directory.add_person("grace", email="grace@example.org", password=LDAP_PASSWORD)
    assert sign_in(client, "grace@example.org", LDAP_PASSWORD).status_code == 302
    first = signed_in_as(client)
    client.logout()

    assert sign_in(client, "grace", LDAP_PASSWORD).status_code == 302

    assert signed_in_as(client) == first
    assert User.objects.filter(email="grace@example.org").count() == 1


@pytest.mark.django_db
def test_a_wrong_password_is_refused(client, ldap_on, directory):
    directory.add_person("alan", email="alan@example.org", password=LDAP_PASSWORD)

    response = sign_in(client, "alan@example.org", "not the password")

    assert response.status_code == 200
    assert WRONG_PASSWORD_ERROR in response.content.decode()
    assert signed_in_as(client) is None
    assert not User.objects.filter(email="alan@example.org").exists()


@pytest.mark.django_db
def test_someone_removed_from_the_directory_can_no_longer_sign_in(client, ldap_on, directory):
    dn = directory.add_person("edsger", email="edsger@example.org", password=LDAP_PASSWORD)
    assert sign_in(client, "edsger", LDAP_PASSWORD).status_code == 302
    client.logout()
    directory.delete(dn)

    response = sign_in(client, "edsger@example.org", LDAP_PASSWORD)

    assert response.status_code == 200 and WRONG_PASSWORD_ERROR in response.content.decode()
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_someone_who_left_the_required_group_can_no_longer_sign_in(client, ldap_on, directory):
    person = directory.add_person("barbara", email="barbara@example.org", password=LDAP_PASSWORD)
    required = directory.add_group("portal-users", person)
    ldap_on(AIPORTAL_LDAP_REQUIRE_GROUP=required)
    assert sign_in(client, "barbara", LDAP_PASSWORD).status_code == 302
    client.logout()
    directory.leave(required, person)

    assert sign_in(client, "barbara", LDAP_PASSWORD).status_code == 200
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_new_directory_accounts_wait_for_approval_when_it_is_on(
    client,
    settings,
    ldap_on,
    directory,
):
    settings.AIPORTAL_SIGNUP_APPROVAL = True
    directory.add_person("katherine", email="katherine@example.org", password=LDAP_PASSWORD)

    sign_in(client, "katherine", LDAP_PASSWORD)

    user = User.objects.get(email="katherine@example.org")
    assert user.status == User.Status.PENDING and not user.may_act


@pytest.mark.django_db
def test_a_closed_signup_does_not_stop_the_directory(client, settings, ldap_on, directory):
    settings.AIPORTAL_SIGNUP = "closed"
    directory.add_person("margaret", email="margaret@example.org", password=LDAP_PASSWORD)

    assert sign_in(client, "margaret", LDAP_PASSWORD).status_code == 302
    assert signed_in_as(client).email == "margaret@example.org"


@pytest.mark.django_db
def test_a_directory_person_with_a_local_account_keeps_it(client, ldap_on, directory, make_user):
    local = make_user("linus@example.org")
    directory.add_person("linus", email="linus@example.org", password=LDAP_PASSWORD)

    assert sign_in(client, "linus", LDAP_PASSWORD).status_code == 302
    assert signed_in_as(client) == local
    client.logout()
    # The local password goes on working beside the directory's.
    assert sign_in(client, "linus@example.org", PASSWORD).status_code == 302


# --- The directory down or misconfigured ----------------------------------------------------


@pytest.mark.django_db
def test_a_directory_that_is_down_is_said_so_and_local_accounts_still_sign_in(
    client,
    ldap_on,
    make_user,
):
    ldap_on(uri=f"ldap://127.0.0.1:{free_port()}")  # nothing listens there
    make_user("local@example.org")

    response = sign_in(client, "someone@example.org", "whatever password")

    assert response.status_code == 200
    assert escape(DIRECTORY_UNREACHABLE) in response.content.decode()
    assert signed_in_as(client) is None
    response = sign_in(client, "local@example.org", PASSWORD)
    assert response.status_code == 302
    assert signed_in_as(client).email == "local@example.org"


@pytest.mark.django_db
def test_a_wrong_service_password_is_said_so(client, ldap_on, directory):
    directory.add_person("ken", email="ken@example.org", password=LDAP_PASSWORD)
    ldap_on(AIPORTAL_LDAP_BIND_PASSWORD="not the service password")

    response = sign_in(client, "ken", LDAP_PASSWORD)

    assert response.status_code == 200 and escape(DIRECTORY_FAILED) in response.content.decode()
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_start_tls_is_asked_for_and_a_directory_without_it_refuses_the_sign_in(
    client, ldap_on, directory
):
    # This slapd has no certificate: with StartTLS on, nobody may sign in over plain LDAP.
    directory.add_person("tim", email="tim@example.org", password=LDAP_PASSWORD)
    ldap_on(AIPORTAL_LDAP_START_TLS="true")

    response = sign_in(client, "tim", LDAP_PASSWORD)

    assert response.status_code == 200 and signed_in_as(client) is None
    # slapd answers the StartTLS request with "unsupported extended operation".
    assert escape(DIRECTORY_FAILED) in response.content.decode()


# --- Groups --------------------------------------------------------------------------------


def _version() -> str:
    from gateway.callers import policies_version

    return async_to_sync(policies_version)()


@pytest.mark.django_db
def test_mapped_groups_follow_the_directory_at_each_sign_in(
    client,
    ldap_on,
    directory,
    django_capture_on_commit_callbacks,
):
    person = directory.add_person("hedy", email="hedy@example.org", password=LDAP_PASSWORD)
    gpu = directory.add_group("gpu-users", person)
    directory.add_group("interns", person)
    ldap_on(AIPORTAL_LDAP_GROUP_MAP="gpu-users=GPU users,interns")
    local_only = Group.objects.create(name="Beta testers")

    with django_capture_on_commit_callbacks(execute=True):
        sign_in(client, "hedy", LDAP_PASSWORD)
    user = User.objects.get(email="hedy@example.org")
    user.groups.add(local_only)
    assert set(user.groups.values_list("name", flat=True)) == {
        "GPU users",
        "interns",
        "Beta testers",
    }

    client.logout()
    directory.leave(gpu, person)
    before = _version()
    with django_capture_on_commit_callbacks(execute=True):
        sign_in(client, "hedy", LDAP_PASSWORD)

    # Removed from the mapped group the directory dropped; the local group is not the
    # directory's to touch. The gateway's cached policies were told.
    assert set(user.groups.values_list("name", flat=True)) == {"interns", "Beta testers"}
    assert _version() != before

    client.logout()
    directory.join(gpu, person)
    with django_capture_on_commit_callbacks(execute=True):
        sign_in(client, "hedy", LDAP_PASSWORD)
    assert "GPU users" in set(user.groups.values_list("name", flat=True))


@pytest.mark.django_db
def test_groups_that_cannot_be_read_fail_the_sign_in(client, ldap_on, directory):
    directory.add_person("ida", email="ida@example.org", password=LDAP_PASSWORD)
    # A search base that does not exist: the directory answers "no such object".
    ldap_on(
        AIPORTAL_LDAP_GROUP_SEARCH_BASE="ou=missing,dc=example,dc=org",
        AIPORTAL_LDAP_GROUP_MAP="gpu-users",
    )

    response = sign_in(client, "ida", LDAP_PASSWORD)

    assert response.status_code == 200 and signed_in_as(client) is None
    assert escape(DIRECTORY_FAILED) in response.content.decode()


@pytest.mark.django_db
def test_directory_groups_never_make_admins_unless_a_staff_group_is_named(
    client,
    ldap_on,
    directory,
):
    person = directory.add_person("dennis", email="dennis@example.org", password=LDAP_PASSWORD)
    admins = directory.add_group("admins", person)
    ldap_on(AIPORTAL_LDAP_GROUP_MAP="admins")

    sign_in(client, "dennis", LDAP_PASSWORD)
    user = User.objects.get(email="dennis@example.org")
    assert not user.is_staff and not user.is_superuser

    client.logout()
    ldap_on(AIPORTAL_LDAP_STAFF_GROUP=admins)
    sign_in(client, "dennis", LDAP_PASSWORD)
    user.refresh_from_db()
    assert user.is_staff and user.is_superuser

    client.logout()
    directory.leave(admins, person)
    sign_in(client, "dennis", LDAP_PASSWORD)
    user.refresh_from_db()
    assert not user.is_staff and not user.is_superuser


# --- Settings from the environment --------------------------------------------------------------


def test_ldap_is_off_without_a_uri():
    assert ldap_settings({}) == {}


def test_the_service_password_may_come_from_a_file(tmp_path):
    secret = tmp_path / "bind_password"
    secret.write_text("from-a-file\n")
    env = environment("ldap://ldap.example.org")
    del env["AIPORTAL_LDAP_BIND_PASSWORD"]

    result = ldap_settings({**env, "AIPORTAL_LDAP_BIND_PASSWORD_FILE": str(secret)})

    assert result["AUTH_LDAP_BIND_PASSWORD"] == "from-a-file"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"AIPORTAL_LDAP_USER_SEARCH_BASE": ""}, "needs AIPORTAL_LDAP_USER_SEARCH_BASE"),
        ({"AIPORTAL_LDAP_USER_DN_TEMPLATE": "uid=%(user)s,ou=people"}, "not both"),
        ({"AIPORTAL_LDAP_USER_FILTER": "(uid=ada)"}, "must contain %(user)s"),
        ({"AIPORTAL_LDAP_GROUP_TYPE": "team"}, "AIPORTAL_LDAP_GROUP_TYPE must be one of"),
        ({"AIPORTAL_LDAP_GROUP_MAP": "admins="}, "is not ldap-name=Django name"),
        (
            {"AIPORTAL_LDAP_GROUP_SEARCH_BASE": "", "AIPORTAL_LDAP_STAFF_GROUP": "cn=x"},
            "need AIPORTAL_LDAP_GROUP_SEARCH_BASE",
        ),
    ],
)
def test_a_bad_ldap_setting_stops_start_up_with_a_message(extra, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ldap_settings(environment("ldap://ldap.example.org", **extra))


def test_a_dn_template_replaces_the_search():
    result = ldap_settings(
        {
            "AIPORTAL_LDAP_URI": "ldap://ldap.example.org",
            "AIPORTAL_LDAP_USER_DN_TEMPLATE": "uid=%(user)s,ou=people,dc=example,dc=org",
            "AIPORTAL_LDAP_START_TLS": "true",
        }
    )
    assert result["AUTH_LDAP_USER_DN_TEMPLATE"] == "uid=%(user)s,ou=people,dc=example,dc=org"
    assert "AUTH_LDAP_USER_SEARCH" not in result and result["AUTH_LDAP_START_TLS"] is True
