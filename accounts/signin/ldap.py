"""LDAP sign-in: django-auth-ldap's settings from the environment, and the group sync
(docs/accounts.md, "LDAP").

Off unless ``AIPORTAL_LDAP_URI`` is set. aiportal/settings.py calls :func:`ldap_settings`,
which must not touch models (settings are still loading): it imports only python-ldap and
django-auth-ldap's configuration classes. The backend itself is accounts/signin/ldap_backend.py.

What the directory decides, and what it never does:

- who may sign in: a person the user search finds and whose password binds (plus membership
  of ``AIPORTAL_LDAP_REQUIRE_GROUP`` when set). A person removed or disabled there is no
  longer found (Active Directory: the filter excludes disabled accounts) and is refused.
- the Django groups named in ``AIPORTAL_LDAP_GROUP_MAP``, on every LDAP sign-in: a member of
  the LDAP group joins the mapped group, a former member leaves it. Groups not in the map
  are never touched, so an admin's local groups survive.
- admin rights only when ``AIPORTAL_LDAP_STAFF_GROUP`` names an LDAP group: its members are
  made staff and superuser at sign-in, and lose both when they leave it. Unset (the
  default), the directory never grants or removes admin rights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from common.env import ConfigError, env_bool, env_int, env_list, env_secret, env_str

# AIPORTAL_LDAP_GROUP_TYPE: our names for django-auth-ldap's group types, with the object
# class its groups have (the default group filter).
GROUP_TYPES = {
    "groupOfNames": ("GroupOfNamesType", "groupOfNames"),
    "nestedGroupOfNames": ("NestedGroupOfNamesType", "groupOfNames"),
    "groupOfUniqueNames": ("GroupOfUniqueNamesType", "groupOfUniqueNames"),
    "posixGroup": ("PosixGroupType", "posixGroup"),
    "activeDirectory": ("ActiveDirectoryGroupType", "group"),
    "nestedActiveDirectory": ("NestedActiveDirectoryGroupType", "group"),
}
# A typed login may be the directory's user name or the person's address: allauth's form
# asks for an email, and people type either.
DEFAULT_USER_FILTER = "(|(uid=%(user)s)(mail=%(user)s))"


def group_map_parse(entries: Iterable[str]) -> dict[str, str]:
    """``ldap-name=Django name`` entries (or a bare name, kept as it is) into a mapping."""
    mapping: dict[str, str] = {}
    for entry in entries:
        ldap_name, sep, django_name = entry.partition("=")
        ldap_name, django_name = ldap_name.strip(), django_name.strip()
        if not ldap_name or (sep and not django_name):
            raise ConfigError(f"AIPORTAL_LDAP_GROUP_MAP: {entry!r} is not ldap-name=Django name")
        mapping[ldap_name] = django_name or ldap_name
    return mapping


def ldap_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``AUTH_LDAP_*`` settings (and aiportal's own ``AIPORTAL_LDAP_*``) for the
    environment, or an empty dict when LDAP is off."""
    uri = env_str("AIPORTAL_LDAP_URI", environ=environ).strip()
    if not uri:
        return {}
    try:
        import ldap
        from django_auth_ldap import config
    except ImportError:
        raise ConfigError(
            "AIPORTAL_LDAP_URI is set but django-auth-ldap is not installed: "
            "pip install 'aiportal[ldap]' (python-ldap compiles against libldap2-dev and "
            "libsasl2-dev)"
        ) from None

    def env(name: str, default: str = "") -> str:
        return env_str(name, default, environ=environ).strip()

    timeout = env_int("AIPORTAL_LDAP_TIMEOUT_S", 5, minimum=1, environ=environ)
    result: dict[str, Any] = {
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_BIND_DN": env("AIPORTAL_LDAP_BIND_DN"),
        "AUTH_LDAP_BIND_PASSWORD": env_secret("AIPORTAL_LDAP_BIND_PASSWORD", environ=environ),
        "AUTH_LDAP_START_TLS": env_bool("AIPORTAL_LDAP_START_TLS", False, environ=environ),
        # A directory that does not answer must fail the sign-in quickly, not hang the page.
        "AUTH_LDAP_CONNECTION_OPTIONS": {
            ldap.OPT_NETWORK_TIMEOUT: timeout,
            ldap.OPT_TIMEOUT: timeout,
            # Active Directory answers searches at the domain root with referrals that
            # python-ldap would chase anonymously, and fail.
            ldap.OPT_REFERRALS: 0,
        },
        # Names, email and flags are refreshed from the directory at every sign-in.
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_USER_ATTR_MAP": {
            "email": env("AIPORTAL_LDAP_ATTR_EMAIL", "mail"),
            "first_name": env("AIPORTAL_LDAP_ATTR_FIRST_NAME", "givenName"),
            "last_name": env("AIPORTAL_LDAP_ATTR_LAST_NAME", "sn"),
        },
        # The Django account is found by the address the directory gives, so a person who
        # types their uid one day and their email the next is one account, not two.
        "AUTH_LDAP_USER_QUERY_FIELD": "email",
        # Groups are synced by accounts/signin/ldap_backend.py through AIPORTAL_LDAP_GROUP_MAP;
        # django-auth-ldap's own mirroring would copy every LDAP group by its LDAP name.
        "AUTH_LDAP_MIRROR_GROUPS": False,
        # allauth's form then takes a directory user name as well as an address ("Username
        # or email"); a login without an @ reaches the backends as username=.
        "ACCOUNT_LOGIN_METHODS": {"email", "username"},
    }

    dn_template = env("AIPORTAL_LDAP_USER_DN_TEMPLATE")
    search_base = env("AIPORTAL_LDAP_USER_SEARCH_BASE")
    if dn_template and search_base:
        raise ConfigError(
            "set AIPORTAL_LDAP_USER_SEARCH_BASE or AIPORTAL_LDAP_USER_DN_TEMPLATE, not both"
        )
    if dn_template:
        if "%(user)s" not in dn_template:
            raise ConfigError("AIPORTAL_LDAP_USER_DN_TEMPLATE must contain %(user)s")
        result["AUTH_LDAP_USER_DN_TEMPLATE"] = dn_template
    elif search_base:
        user_filter = env("AIPORTAL_LDAP_USER_FILTER", DEFAULT_USER_FILTER)
        if "%(user)s" not in user_filter:
            raise ConfigError("AIPORTAL_LDAP_USER_FILTER must contain %(user)s")
        result["AUTH_LDAP_USER_SEARCH"] = config.LDAPSearch(
            search_base, ldap.SCOPE_SUBTREE, user_filter
        )
    else:
        raise ConfigError(
            "AIPORTAL_LDAP_URI needs AIPORTAL_LDAP_USER_SEARCH_BASE (with an optional "
            "AIPORTAL_LDAP_USER_FILTER) or AIPORTAL_LDAP_USER_DN_TEMPLATE"
        )

    group_map = group_map_parse(env_list("AIPORTAL_LDAP_GROUP_MAP", environ=environ))
    require_group = env("AIPORTAL_LDAP_REQUIRE_GROUP")
    staff_group = env("AIPORTAL_LDAP_STAFF_GROUP")
    group_base = env("AIPORTAL_LDAP_GROUP_SEARCH_BASE")
    if group_base:
        type_name = env("AIPORTAL_LDAP_GROUP_TYPE", "groupOfNames")
        if type_name not in GROUP_TYPES:
            raise ConfigError(
                f"AIPORTAL_LDAP_GROUP_TYPE must be one of {', '.join(GROUP_TYPES)}, "
                f"not {type_name!r}"
            )
        class_name, object_class = GROUP_TYPES[type_name]
        group_filter = env("AIPORTAL_LDAP_GROUP_FILTER", f"(objectClass={object_class})")
        result["AUTH_LDAP_GROUP_SEARCH"] = config.LDAPSearch(
            group_base, ldap.SCOPE_SUBTREE, group_filter
        )
        result["AUTH_LDAP_GROUP_TYPE"] = getattr(config, class_name)()
    elif group_map or require_group or staff_group:
        raise ConfigError(
            "AIPORTAL_LDAP_GROUP_MAP, AIPORTAL_LDAP_REQUIRE_GROUP and AIPORTAL_LDAP_STAFF_GROUP "
            "need AIPORTAL_LDAP_GROUP_SEARCH_BASE"
        )
    if require_group:
        result["AUTH_LDAP_REQUIRE_GROUP"] = require_group
    if staff_group:
        # The one way the directory makes admins, named on purpose by the operator.
        result["AUTH_LDAP_USER_FLAGS_BY_GROUP"] = {
            "is_staff": staff_group,
            "is_superuser": staff_group,
        }
    result["AIPORTAL_LDAP_GROUP_MAP"] = group_map
    return result


def ldap_groups_sync(*, user, member_of: set[str], group_map: Mapping[str, str]) -> None:
    """Make ``user``'s membership of the mapped Django groups match the LDAP groups it is a
    member of (``member_of``: LDAP group names). Groups outside the map are left alone.

    Adding and removing through ``user.groups`` sends m2m_changed, which the gateway's
    receivers turn into a policy-version bump (gateway/signals.py), so a new
    group's limits and models apply on the user's next request."""
    from django.contrib.auth.models import Group

    wanted = {django for ldap_name, django in group_map.items() if ldap_name in member_of}
    mapped = set(group_map.values())
    current = set(user.groups.filter(name__in=mapped).values_list("name", flat=True))
    if leave := current - wanted:
        user.groups.remove(*Group.objects.filter(name__in=leave))
    if join := wanted - current:
        user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in sorted(join)))
