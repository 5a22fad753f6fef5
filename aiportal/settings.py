"""aiportal settings: one file, read from the environment.

Unset means the embedded default (SQLite, in-memory channel layer, eager Celery). Set
DATABASE_URL, REDIS_URL and AIPORTAL_WORKERS for production. docs/configuration.md lists every
variable.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from limits import parse_many

from accounts.signin.ldap import ldap_settings
from accounts.signin.trusted_header import trusted_header_settings_check
from accounts.sso.config import oidc_apps_from_env
from common.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Where the embedded default keeps its SQLite file and uploads; a volume in production.
DATA_DIR = Path(env_str("AIPORTAL_DATA_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

_GENERATE_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
# The key DEBUG falls back to. It is in this file, so it signs nothing that matters.
_DEBUG_SECRET_KEY = "insecure-debug-only-key-never-used-with-debug-off-0123456789"  # noqa: S105
# Keys that are public knowledge sign cookies and password-reset links anyone can forge: the
# placeholders of examples and tutorials ("changeme", "replace-me-…"), Django's startproject
# keys ("django-insecure-…") and the debug key above. Compared with case and punctuation
# folded away; a random key of 50 characters contains none of these by chance.
_WELL_KNOWN_KEY_PARTS = ("changeme", "replaceme", "insecure", "example", "placeholder")


def _secret_key_problem(key: str) -> str | None:
    """Why ``key`` must not sign a production site, or None when it may."""
    if len(key) < 50:
        return f"SECRET_KEY is {len(key)} characters long; use at least 50 random characters."
    folded = "".join(char for char in key.lower() if char.isalnum())
    if any(part in folded for part in _WELL_KNOWN_KEY_PARTS) or len(set(key)) < 5:
        return "SECRET_KEY is a well-known or placeholder value, not a random one."
    return None


SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off. Generate one with: "
            + _GENERATE_KEY
        )
    SECRET_KEY = _DEBUG_SECRET_KEY
elif not DEBUG and (_problem := _secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(f"{_problem} Generate one with: {_GENERATE_KEY}")

INSTALLED_APPS = [
    "daphne",  # first, so that runserver is Daphne's
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "allauth",
    "accounts.allauth_apps.SignInAddressesConfig",  # allauth.account, renamed in the admin
    "accounts",
    "scim",
    "gateway",
    "chat",
    "assistants",
    "prompts",
    "tools",
    "datasets",
    "retention",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "aiportal.middleware.StaticFilesMiddleware",  # WhiteNoise, async-capable
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the browser's Accept-Language (no prefix in URLs); after the session,
    # before CommonMiddleware, as Django asks.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Query strings and form fields with text PostgreSQL cannot store (NUL): a 400.
    "common.text.UnstorableTextMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The language a signed-in person chose on Settings → Preferences, over the browser's.
    "accounts.preferences.middleware.PreferredLanguageMiddleware",
    # Before the trusted header: its sign-in goes through allauth's, which leaves a message.
    "django.contrib.messages.middleware.MessageMiddleware",
    # Off (removed at start-up) unless AIPORTAL_TRUSTED_HEADER is set.
    "accounts.signin.trusted_header.TrustedHeaderMiddleware",
    # The client's address for audit events, and the admin's bulk log entries.
    "accounts.audit.middleware.AuditRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "csp.middleware.CSPMiddleware",
    # img-src narrowed to STATIC_URL on this host: after CSPMiddleware, so it runs first on
    # the way out.
    "aiportal.middleware.images_from_static_only",
]

ROOT_URLCONF = "aiportal.urls"
ASGI_APPLICATION = "aiportal.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aiportal.context_processors.site",
                "aiportal.context_processors.theme",
                "aiportal.context_processors.js_catalogue",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    _postgres = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["ENGINE"] = "common.sqlite"  # with sqlite-vec: see the next one
    if _postgres and env_bool("AIPORTAL_DB_POOL", True):
        # A pool per process (psycopg_pool), not persistent connections: under ASGI each
        # request and each sync_to_async thread would otherwise open its own connection, a
        # few milliseconds of PostgreSQL's time per query. Closing a connection returns it.
        _pool_max = env_int("AIPORTAL_DB_POOL_MAX", 20, minimum=1)
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(env_int("AIPORTAL_DB_POOL_MIN", 2, minimum=0), _pool_max),
            "max_size": _pool_max,
            # A request waiting longer than this for a connection (all in use, or the
            # database down) fails instead of hanging.
            "timeout": env_int("AIPORTAL_DB_POOL_TIMEOUT_S", 5, minimum=1),
        }
else:
    DATABASES = {
        "default": {
            # Django's SQLite backend on a SQLite that loads sqlite-vec (common/sqlite/base.py
            # says why that driver): vector search in the embedded default.
            "ENGINE": "common.sqlite",
            "NAME": DATA_DIR / "aiportal.sqlite3",
            "OPTIONS": {
                # The web process writes from several threads at once (streams saving answers):
                # WAL lets readers go on while one writes, IMMEDIATE takes the write lock up
                # front so two writers queue instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=5000;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache ----------------------------------------------
REDIS_URL = env_secret("REDIS_URL")
# Lets several deployments (or parallel test runs) share one Redis without crosstalk.
REDIS_PREFIX = env_str("AIPORTAL_REDIS_PREFIX", "aiportal")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s that
                # channels_redis blocks in BZPOPMIN: receive() then fails at random and tears
                # the consumer down (django/channels_redis#422). Wait longer than the block.
                # max_connections: redis-py's pool refuses a command past 100 connections
                # ("Too many connections"), which 200 sockets of one process reach at once.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 1000}],
                "prefix": f"{REDIS_PREFIX}:ws",
                # All of a process's sockets share one Redis queue (channels_redis's
                # process-local channels), and past this many waiting messages group_send
                # drops frames silently. The default, 100, is a few hundred milliseconds of
                # deltas for a process streaming to a hundred sockets (bench/ws_fanout.py).
                "capacity": 5000,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without Redis there is no worker process: tasks run in the caller (the embedded default).
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env_int("AIPORTAL_TASK_TIME_LIMIT", 3600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30 if CELERY_TASK_TIME_LIMIT > 60 else None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_PREFIX}-default"
# A message taken by a worker that then died (acks_late tasks: dataset refills) is handed out
# again after this long. A longer task is redelivered while it still runs: the refill's lease
# makes that harmless.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("AIPORTAL_CELERY_VISIBILITY_TIMEOUT_S", 3600, minimum=1)
}

# --- Accounts --------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a password check while its guessing limits are reached (below).
    "accounts.signin.guessing.GuessingGuardBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "chat:index"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.signin.adapters.AccountAdapter"
# The sign-up form asks the sign-up policy; allauth's other email forms (adding an address to
# an existing account) do not: only creating an account is gated.
ACCOUNT_FORMS = {
    "signup": "accounts.signup.forms.SignupForm",
    "login": "accounts.signin.forms.LoginForm",
}
# Who may create an account (accounts/signup/policy.py). Closed by default: an organisation's
# portal is not open to whoever finds it. AIPORTAL_SIGNUP_OPEN=true is the older spelling of open.
AIPORTAL_SIGNUP = env_str(
    "AIPORTAL_SIGNUP", "open" if env_bool("AIPORTAL_SIGNUP_OPEN", False) else "closed"
)
if AIPORTAL_SIGNUP not in {"closed", "open", "invite", "domains", "sso_only"}:
    raise ImproperlyConfigured("AIPORTAL_SIGNUP must be closed, open, invite, domains or sso_only")
AIPORTAL_SIGNUP_DOMAINS = env_list("AIPORTAL_SIGNUP_DOMAINS")
if AIPORTAL_SIGNUP == "domains" and not AIPORTAL_SIGNUP_DOMAINS:
    raise ImproperlyConfigured("AIPORTAL_SIGNUP=domains needs AIPORTAL_SIGNUP_DOMAINS")
# Every new account waits for an admin's approval (status pending) before it may do anything.
AIPORTAL_SIGNUP_APPROVAL = env_bool("AIPORTAL_SIGNUP_APPROVAL", False)
# How long an admin's invitation link stays valid.
AIPORTAL_INVITE_DAYS = env_int("AIPORTAL_INVITE_DAYS", 7, minimum=1)
# The domains policy trusts the address typed in: without a confirmed address it would let
# anyone in who claims one. So verification is mandatory there, and cannot be turned off.
ACCOUNT_EMAIL_VERIFICATION = env_str(
    "AIPORTAL_EMAIL_VERIFICATION", "mandatory" if AIPORTAL_SIGNUP == "domains" else "optional"
)
if ACCOUNT_EMAIL_VERIFICATION not in {"none", "optional", "mandatory"}:
    raise ImproperlyConfigured("AIPORTAL_EMAIL_VERIFICATION must be none, optional or mandatory")
if AIPORTAL_SIGNUP == "domains" and ACCOUNT_EMAIL_VERIFICATION != "mandatory":
    raise ImproperlyConfigured(
        "AIPORTAL_SIGNUP=domains needs AIPORTAL_EMAIL_VERIFICATION=mandatory (or unset): a "
        "domain is only a policy once the address is proven"
    )
# A pending or suspended account reaches nothing but sign-in/out and its status page. Right
# after whatever signs people in (authentication, then the trusted header, which can sign a
# person in on this very request), so that everything below it (admin included) is covered.
MIDDLEWARE.insert(
    MIDDLEWARE.index("accounts.signin.trusted_header.TrustedHeaderMiddleware") + 1,
    "accounts.access.middleware.AccountStatusMiddleware",
)
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_SESSION_REMEMBER = None

# --- Accounts: password guessing (accounts/signin/guessing.py, docs/accounts.md) -------------
# Failed password checks, counted per (account, client address) in the limits library's
# notation; each tier makes a guesser wait longer. Never per account alone: that would let
# anyone lock the owner out.
AIPORTAL_SIGNIN_PAIR_LIMITS = env_str("AIPORTAL_SIGNIN_PAIR_LIMITS", "5/5 minutes;15/hour;30/day")
# Failed checks per client address across all accounts: a generous ceiling against spraying
# (a whole office may sit behind one address).
AIPORTAL_SIGNIN_ADDRESS_LIMITS = env_str("AIPORTAL_SIGNIN_ADDRESS_LIMITS", "100/10 minutes")
# Empty turns a limit off; anything else the limits library cannot read stops the start.
for _name in ("AIPORTAL_SIGNIN_PAIR_LIMITS", "AIPORTAL_SIGNIN_ADDRESS_LIMITS"):
    try:
        if globals()[_name]:
            parse_many(globals()[_name])
    except ValueError as _exc:
        raise ImproperlyConfigured(f"{_name}: {_exc}") from None
MIDDLEWARE.append("accounts.signin.guessing.RetryAfterMiddleware")
# allauth's own limits stay for what they fit: sign-in requests per client address (raised
# from 30/m: an office behind one address signs in at nine), and second-factor codes
# ("login_failed", which allauth.mfa keys by user: 5 wrong codes in 5 minutes). Password
# failures no longer use it (AccountAdapter.pre_authenticate).
ACCOUNT_RATE_LIMITS = {"login": env_str("AIPORTAL_SIGNIN_REQUESTS_LIMIT", "120/m/ip")}

# --- Accounts: SSO ---------------------------------------------------------------------------
# OpenID Connect providers (docs/accounts.md, "Single sign-on"): from AIPORTAL_OIDC_PROVIDERS
# and its per-provider variables, plus any an admin adds as a Social application.
INSTALLED_APPS += [
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "accounts.sso",
]
SOCIALACCOUNT_ADAPTER = "accounts.sso.adapter.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": oidc_apps_from_env(os.environ)}}
# The sign-in buttons are links, not forms: CSP form-action 'self' also covers the redirect
# a form submission leads to, and Chromium would refuse the one to the provider.
SOCIALACCOUNT_LOGIN_ON_GET = True
# Linking by email is decided in the adapter (verified at both ends), not by allauth's switch.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
# A new SSO account's address was verified by the provider (the adapter refuses others).
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = env_int("AIPORTAL_OIDC_TIMEOUT_S", 10, minimum=1)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "aiportal@localhost")
# For the SMTP backend (django.core.mail.backends.smtp.EmailBackend): sign-up confirmations,
# password resets, invitations and approvals are mailed through it.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS) or EMAIL_USE_SSL, not both")
EMAIL_TIMEOUT = 30

# --- Accounts: LDAP and trusted header ------------------------------------------------------
# LDAP sign-in (accounts/signin/ldap.py, docs/accounts.md "LDAP"): off unless AIPORTAL_LDAP_URI is
# set. ldap_settings() returns django-auth-ldap's AUTH_LDAP_* names, set here as they are,
# plus AIPORTAL_LDAP_GROUP_MAP and ACCOUNT_LOGIN_METHODS (a directory user name is accepted).
# Its backend comes after the local ones: a local password is tried first, the directory only
# when that fails.
_ldap = ldap_settings()
globals().update(_ldap)
AIPORTAL_LDAP_GROUP_MAP = _ldap.get("AIPORTAL_LDAP_GROUP_MAP", {})
if _ldap:
    AUTHENTICATION_BACKENDS.append("accounts.signin.ldap_backend.DirectoryBackend")
# Sign-in by a header an authenticating proxy sets (accounts/signin/trusted_header.py), believed
# only from the proxies' addresses.
AIPORTAL_TRUSTED_HEADER = env_str("AIPORTAL_TRUSTED_HEADER").strip()
AIPORTAL_TRUSTED_PROXIES = env_list("AIPORTAL_TRUSTED_PROXIES")
trusted_header_settings_check(AIPORTAL_TRUSTED_HEADER, AIPORTAL_TRUSTED_PROXIES)

# --- Accounts: MFA and sessions ----------------------------------------------------------
# Second factor (allauth.mfa, docs/accounts.md): an authenticator app (TOTP) or a security
# key (WebAuthn), with recovery codes. Who must have one: none, staff (is_staff or
# is_superuser) or all.
# humanize: allauth's security-key list shows "last used 2 days ago".
INSTALLED_APPS += ["django.contrib.humanize", "allauth.mfa", "allauth.usersessions"]
MIDDLEWARE += [
    # Records each session's browser, address and last-seen time (at most once a minute).
    "accounts.signin.sessions.SessionActivityMiddleware",
    # Sends a person who must have a second factor and has none to enrol, from every page.
    "accounts.signin.mfa_middleware.MfaRequiredMiddleware",
]
AIPORTAL_MFA_REQUIRED = env_str("AIPORTAL_MFA_REQUIRED", "none")
if AIPORTAL_MFA_REQUIRED not in {"none", "staff", "all"}:
    raise ImproperlyConfigured("AIPORTAL_MFA_REQUIRED must be none, staff or all")
MFA_ADAPTER = "accounts.signin.mfa.MfaAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
# Browsers offer WebAuthn only to https:// origins and to http://localhost; the latter is
# what a deployment without AIPORTAL_HTTPS (the embedded default, tests) is reached at.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not env_bool("AIPORTAL_HTTPS", False)
MFA_TOTP_ISSUER = env_str("AIPORTAL_MFA_ISSUER", "aiportal")
# One step either side: a phone clock a few seconds off still signs in.
MFA_TOTP_TOLERANCE = 1
# Tracking is done by accounts.signin.sessions (throttled), not by allauth's per-request write.
USERSESSIONS_TRACK_ACTIVITY = False
# How often a session's last-seen time is written while it is used.
AIPORTAL_SESSION_SEEN_INTERVAL = env_int("AIPORTAL_SESSION_SEEN_INTERVAL_S", 60, minimum=1)

# --- HTTP security ---------------------------------------------------------------------------
# The public names the site is served under (the edge's AIPORTAL_DOMAIN), comma-separated.
# The host names Django answers to and the origins forms may be posted from follow from it;
# ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS, when set, replace what is derived.
AIPORTAL_DOMAIN = env_list("AIPORTAL_DOMAIN")
for _name in AIPORTAL_DOMAIN:
    if not _name.strip(".") or any(char in _name for char in "/:@ "):
        raise ImproperlyConfigured(
            f"AIPORTAL_DOMAIN takes host names such as chat.example.org, not {_name!r}"
        )
# On (behind the edge, which terminates TLS): cookies only over HTTPS, plain HTTP redirected,
# HSTS. Compose sets it with AIPORTAL_BEHIND_PROXY.
HTTPS = env_bool("AIPORTAL_HTTPS", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", AIPORTAL_DOMAIN or ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", [f"{'https' if HTTPS else 'http'}://{n}" for n in AIPORTAL_DOMAIN]
)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SECURE_SSL_REDIRECT = True
    # Container health checks and Prometheus reach a web process over plain HTTP on the
    # internal network, where there is no TLS to redirect to. The edge never serves these.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("AIPORTAL_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("AIPORTAL_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("AIPORTAL_HSTS_PRELOAD", False)
# `check --deploy` asks for HSTS on every subdomain and for browsers' preload list. Both bind
# every other site of the parent domain (an intranet host on plain HTTP stops working), so they
# are the domain owner's decision, taken with the two variables above, not a default.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
# Behind the edge, which replaces whatever the client sent in X-Forwarded-Proto.
AIPORTAL_BEHIND_PROXY = env_bool("AIPORTAL_BEHIND_PROXY", False)
if AIPORTAL_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Model output is untrusted: no inline script, no image but the site's static files and data:
# (no exfiltration beacons, no same-origin URL fetched with a reader's cookie: img-src is
# narrowed per request to STATIC_URL by aiportal.middleware.images_from_static_only), no
# framing. Websockets to this origin are covered by 'self'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("AIPORTAL_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names let browsers cache forever; ./dev runs collectstatic before serving.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "media"

# The interface follows the browser's Accept-Language unless a person chose a language on
# Settings → Preferences. docs/development.md says how to add one to LANGUAGES.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Gateway ---------------------------------------------------------------------------------
# Comma-separated URL@REGION entries, e.g. http://gpu1:8000@eu-west,http://gpu2:8000@us-east.
AIPORTAL_WORKERS = env_str("AIPORTAL_WORKERS")
# The model a conversation uses when the user picks none; empty means the first one served.
AIPORTAL_DEFAULT_MODEL = env_str("AIPORTAL_DEFAULT_MODEL")
AIPORTAL_CONNECT_TIMEOUT = env_int("AIPORTAL_CONNECT_TIMEOUT_MS", 2000, minimum=1) / 1000
# How long an idle pooled connection to a worker is kept: shorter than the worker's own
# keep-alive (vLLM closes idle connections after 5 s, VLLM_HTTP_TIMEOUT_KEEP_ALIVE), so the
# gateway lets go of a connection before the worker does (docs/gateway/pool.md).
AIPORTAL_UPSTREAM_KEEPALIVE = env_int("AIPORTAL_UPSTREAM_KEEPALIVE_MS", 4000, minimum=1) / 1000
# How long a worker may take to send its first token before the gateway tries the next one.
AIPORTAL_FIRST_TOKEN_TIMEOUT = env_int("AIPORTAL_FIRST_TOKEN_TIMEOUT_MS", 30000, minimum=1) / 1000
AIPORTAL_MAX_TOKENS = env_int("AIPORTAL_MAX_TOKENS", 2048, minimum=1)
# affinity (conversation-sticky, load-aware), least_loaded, power_of_two or round_robin.
AIPORTAL_ROUTING_POLICY = env_str("AIPORTAL_ROUTING_POLICY", "affinity")
if AIPORTAL_ROUTING_POLICY not in {"affinity", "least_loaded", "power_of_two", "round_robin"}:
    raise ImproperlyConfigured(
        "AIPORTAL_ROUTING_POLICY must be affinity, least_loaded, power_of_two or round_robin"
    )
# How often the elected prober reads every worker's /health and /metrics.
AIPORTAL_PROBE_INTERVAL = env_int("AIPORTAL_PROBE_INTERVAL_MS", 1000, minimum=50) / 1000
# Metrics older than this count as saturated: a worker we cannot see is not an idle one.
AIPORTAL_METRICS_STALE_AFTER = (
    env_int("AIPORTAL_METRICS_STALE_MS", int(AIPORTAL_PROBE_INTERVAL * 3000), minimum=100) / 1000
)
# KV-cache use at which routing counts a worker as saturated (vLLM queues and preempts before
# its gauge reads 1.0): a share in (0, 1], docs/gateway/routing.md.
AIPORTAL_KV_SATURATION = env_float("AIPORTAL_KV_SATURATION", 0.9)
if not 0.0 < AIPORTAL_KV_SATURATION <= 1.0:
    raise ImproperlyConfigured("AIPORTAL_KV_SATURATION must be above 0 and at most 1")
AIPORTAL_MAX_ATTEMPTS = env_int("AIPORTAL_MAX_ATTEMPTS", 3, minimum=1)
# Embeddings for datasets (gateway/embeddings.py, docs/gateway/embeddings.md): the model the
# workers serve for them (empty: no embeddings), how many texts go in one request, and how
# many times a batch that failed with a retryable error is sent again, after a backoff that
# starts here and doubles.
AIPORTAL_EMBEDDING_MODEL = env_str("AIPORTAL_EMBEDDING_MODEL")
AIPORTAL_EMBEDDING_BATCH = env_int("AIPORTAL_EMBEDDING_BATCH", 64, minimum=1)
AIPORTAL_EMBEDDING_RETRIES = env_int("AIPORTAL_EMBEDDING_RETRIES", 3, minimum=0)
AIPORTAL_EMBEDDING_BACKOFF = env_int("AIPORTAL_EMBEDDING_BACKOFF_MS", 500, minimum=0) / 1000
# Reranking of dataset searches (gateway/reranking.py, datasets/selectors/rerank.py): the
# cross-encoder the workers serve for it (empty: no reranking), how long a search waits for
# it before keeping the order it had, and how many of the search's best hits it reorders.
AIPORTAL_RERANK_MODEL = env_str("AIPORTAL_RERANK_MODEL")
AIPORTAL_RERANK_BUDGET = env_int("AIPORTAL_RERANK_BUDGET_MS", 800, minimum=1) / 1000
AIPORTAL_RERANK_CANDIDATES = env_int("AIPORTAL_RERANK_CANDIDATES", 30, minimum=1)
# Longest silence between two chunks of a running stream before it counts as dead.
AIPORTAL_IDLE_TIMEOUT = env_int("AIPORTAL_IDLE_TIMEOUT_MS", 30000, minimum=1) / 1000
# Longest a whole answer may take, continuations included.
AIPORTAL_REQUEST_DEADLINE = env_int("AIPORTAL_REQUEST_DEADLINE_MS", 600000, minimum=1) / 1000
# Circuit breaker: open after this many failures in a row, probe again after the cool-down.
AIPORTAL_CIRCUIT_FAILURES = env_int("AIPORTAL_CIRCUIT_FAILURES", 3, minimum=1)
AIPORTAL_CIRCUIT_COOLDOWN = env_int("AIPORTAL_CIRCUIT_COOLDOWN_MS", 10000, minimum=1) / 1000
# How long a worker that answered 503 (vLLM's full queue) is tried after every other one.
AIPORTAL_BUSY_BACKOFF = env_int("AIPORTAL_BUSY_BACKOFF_MS", 2000, minimum=0) / 1000
# A web process that dies leaks nothing: its in-flight counts expire with their lease.
AIPORTAL_INFLIGHT_LEASE = env_int("AIPORTAL_INFLIGHT_LEASE_MS", 15000, minimum=100) / 1000
# Admission control defaults; admins override per user and group.
AIPORTAL_USER_MAX_STREAMS = env_int("AIPORTAL_USER_MAX_STREAMS", 4, minimum=1)
# Tokens a user may use per UTC day; 0 means no budget.
AIPORTAL_DAILY_TOKEN_BUDGET = env_int("AIPORTAL_DAILY_TOKEN_BUDGET", 0, minimum=0)
# Requests and tokens a user may use per minute (gateway/rate_limits.py); 0 means no limit.
AIPORTAL_REQUESTS_PER_MINUTE = env_int("AIPORTAL_REQUESTS_PER_MINUTE", 0, minimum=0)
AIPORTAL_TOKENS_PER_MINUTE = env_int("AIPORTAL_TOKENS_PER_MINUTE", 0, minimum=0)
# The period, in seconds, the per-minute limits count over: 60, except in tests that must see
# a window pass without waiting a minute.
AIPORTAL_RATE_LIMIT_WINDOW = env_int("AIPORTAL_RATE_LIMIT_WINDOW", 60, minimum=1)
# The currency of the model prices set in the admin (shown beside costs on usage pages).
AIPORTAL_CURRENCY = env_str("AIPORTAL_CURRENCY", "USD")
# How long a request waits in the fair queue for a free worker before a 429.
AIPORTAL_QUEUE_TIMEOUT = env_int("AIPORTAL_QUEUE_TIMEOUT_MS", 10000, minimum=0) / 1000
# /v1 API caps.
# The largest request body of any page but /v1 and uploads (sign-in and other forms, the chat's
# JSON endpoints, admin), refused by the web server before it is read (common/body_limits.py).
# Django's own limit for form data, so that no form that worked before is refused.
AIPORTAL_MAX_BODY_BYTES = env_int("AIPORTAL_MAX_BODY_BYTES", 2_621_440, minimum=1024)
AIPORTAL_API_MAX_BODY_BYTES = env_int("AIPORTAL_API_MAX_BODY_BYTES", 1_048_576, minimum=1024)
AIPORTAL_API_MAX_MESSAGES = env_int("AIPORTAL_API_MAX_MESSAGES", 256, minimum=1)
AIPORTAL_API_MAX_N = env_int("AIPORTAL_API_MAX_N", 1, minimum=1)
AIPORTAL_API_MAX_TOOLS_BYTES = env_int("AIPORTAL_API_MAX_TOOLS_BYTES", 65536, minimum=0)
# Token ids a client sends (prompts, logit_bias, allowed_token_ids, …) must be below this: the
# largest vocabulary the pool serves (Gemma 3's 262,144 is the largest common one).
AIPORTAL_API_VOCAB_SIZE = env_int("AIPORTAL_API_VOCAB_SIZE", 262_144, minimum=1)
# Bearer token for the portal's own /metrics; empty means it is served to loopback only.
AIPORTAL_METRICS_TOKEN = env_secret("AIPORTAL_METRICS_TOKEN")

# --- Chat ------------------------------------------------------------------------------------
AIPORTAL_MAX_MESSAGE_CHARS = env_int("AIPORTAL_MAX_MESSAGE_CHARS", 32000, minimum=1)
# The largest websocket message Daphne accepts (aiportal/serve.py), in bytes: room for the
# longest frame the chat consumer still judges itself (its own cap, in characters, is six per
# message character for JSON escapes plus 4096; UTF-8 takes at most four bytes for each), so
# every frame under that cap gets the consumer's "too_long" answer. A frame over this one is
# refused by Daphne with close code 1009 and a reason the page shows.
AIPORTAL_WEBSOCKET_MAX_BYTES = 4 * (AIPORTAL_MAX_MESSAGE_CHARS * 6 + 4096)
# Datasets in chat (docs/datasets.md, "Datasets in the app and in chat"): passages retrieved
# per turn, and datasets one conversation may search at once.
AIPORTAL_CHAT_RETRIEVAL_PASSAGES = env_int("AIPORTAL_CHAT_RETRIEVAL_PASSAGES", 6, minimum=1)
AIPORTAL_CHAT_MAX_DATASETS = env_int("AIPORTAL_CHAT_MAX_DATASETS", 10, minimum=1)
# The growing answer is written at most this often (plus once at the end): bounded write rate.
AIPORTAL_SAVE_INTERVAL = env_int("AIPORTAL_SAVE_INTERVAL_MS", 1000, minimum=10) / 1000
# Ask the model for a short title after a conversation's first answer (one small request
# through the gateway, as the user); off keeps the title taken from the first message.
AIPORTAL_CHAT_TITLES = env_bool("AIPORTAL_CHAT_TITLES", True)
# Attachments in the composer (docs/chat.md, "Attachments"): the largest file one may be,
# how many one message may carry, and the pixels an image may decode to (a decompression bomb
# is refused before it is decoded). Stored under generated names in one folder per owner.
AIPORTAL_ATTACHMENT_MAX_BYTES = env_int("AIPORTAL_ATTACHMENT_MAX_BYTES", 20 * 2**20, minimum=1024)
AIPORTAL_ATTACHMENTS_PER_MESSAGE = env_int("AIPORTAL_ATTACHMENTS_PER_MESSAGE", 10, minimum=1)
AIPORTAL_ATTACHMENT_MAX_PIXELS = env_int(
    "AIPORTAL_ATTACHMENT_MAX_PIXELS", 40_000_000, minimum=10_000
)
AIPORTAL_ATTACHMENTS_DIR = Path(env_str("AIPORTAL_ATTACHMENTS_DIR", str(DATA_DIR / "attachments")))

# --- Chat: tools over MCP ----------------------------------------------------------------
# From an answer's start, how long it may call tools (rounds, calls and waits for approval
# together; a call is cut at it); past it the model gets no tools and answers with what it
# has. Each server bounds its own calls too.
AIPORTAL_TOOLS_TIME_BUDGET = env_int("AIPORTAL_TOOLS_TIME_BUDGET_MS", 120000, minimum=100) / 1000
# How much of a tool's result is saved with the answer and shown (the model reads it all,
# up to its server's own limit).
AIPORTAL_TOOLS_SAVED_RESULT_CHARS = env_int("AIPORTAL_TOOLS_SAVED_RESULT_CHARS", 4000, minimum=100)
# How long a call waits for the person's approval (policy "ask") before it counts as denied.
AIPORTAL_TOOLS_APPROVAL_TIMEOUT = (
    env_int("AIPORTAL_TOOLS_APPROVAL_TIMEOUT_MS", 120000, minimum=100) / 1000
)

# --- Datasets: sources ------------------------------------------------------------------
# Host names whose private or loopback addresses the fetcher accepts (an intranet wiki, say);
# every other host must resolve to public addresses only.
AIPORTAL_FETCH_ALLOW_HOSTS = env_list("AIPORTAL_FETCH_ALLOW_HOSTS")
# Whole fetch of one URL, redirects included.
AIPORTAL_FETCH_TIMEOUT = env_int("AIPORTAL_FETCH_TIMEOUT_MS", 30000, minimum=1) / 1000
AIPORTAL_FETCH_MAX_REDIRECTS = env_int("AIPORTAL_FETCH_MAX_REDIRECTS", 5, minimum=0)
# The largest one document may be: a fetched page, a file in a folder, an entry of a zip.
AIPORTAL_DOCUMENT_MAX_BYTES = env_int("AIPORTAL_DOCUMENT_MAX_BYTES", 50 * 2**20, minimum=1024)
# What one PDF, .docx or HTML page may cost to read: wall-clock seconds (its parser runs in a
# child process killed at the deadline) and bytes it may expand to (each PDF stream, the
# .docx's parts, the text extracted). Past either it is a document error; the refill goes on.
AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT = env_int("AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT_S", 60, minimum=1)
AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES = env_int(
    "AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES", 32 * 2**20, minimum=1024
)
# All the documents of one zip archive together: past this many seconds, its remaining
# entries are document errors.
AIPORTAL_ARCHIVE_EXTRACT_TIMEOUT = env_int("AIPORTAL_ARCHIVE_EXTRACT_TIMEOUT_S", 900, minimum=1)
# The largest one uploaded file may be (a zip of many documents counts as one file).
AIPORTAL_UPLOAD_MAX_BYTES = env_int("AIPORTAL_UPLOAD_MAX_BYTES", 100 * 2**20, minimum=1024)
# Storage quotas for uploaded files: per person (what they uploaded, in every dataset) and
# per dataset. 0: no quota.
AIPORTAL_UPLOAD_QUOTA_USER_BYTES = env_int("AIPORTAL_UPLOAD_QUOTA_USER_BYTES", 2 * 2**30, minimum=0)
AIPORTAL_UPLOAD_QUOTA_DATASET_BYTES = env_int(
    "AIPORTAL_UPLOAD_QUOTA_DATASET_BYTES", 1 * 2**30, minimum=0
)
# How many uploaded files one upload source may hold.
AIPORTAL_UPLOAD_MAX_FILES = env_int("AIPORTAL_UPLOAD_MAX_FILES", 1000, minimum=1)
# The largest request body an upload page takes (several files in one form): a declared
# Content-Length over it is a 413 before a byte is read, and the web server stops reading a
# body that passes it (common/body_limits.py); the edge's default cap (110 MiB).
AIPORTAL_UPLOAD_MAX_REQUEST_BYTES = env_int(
    "AIPORTAL_UPLOAD_MAX_REQUEST_BYTES", 110 * 2**20, minimum=1024
)
AIPORTAL_SITEMAP_MAX_URLS = env_int("AIPORTAL_SITEMAP_MAX_URLS", 5000, minimum=1)
# How deep sitemap index files may nest: 1 means an index of sitemaps, no deeper.
AIPORTAL_SITEMAP_MAX_DEPTH = env_int("AIPORTAL_SITEMAP_MAX_DEPTH", 2, minimum=0)
# Server folders a dataset may read: comma-separated name=/absolute/path entries.
AIPORTAL_DATASET_ROOTS = env_list("AIPORTAL_DATASET_ROOTS")


def _dataset_root_access(entries: list[str]) -> dict[str, dict]:
    """Per root: who besides staff may use it (AIPORTAL_DATASET_ROOT_<NAME>_GROUPS, group
    names or * for everyone signed in; unset: staff only) and whether hidden files are read
    (AIPORTAL_DATASET_ROOT_<NAME>_HIDDEN). <NAME> is the root's name in capitals, every
    character but letters and digits an underscore: docs-eu → DOCS_EU."""
    access = {}
    for entry in entries:
        name = entry.partition("=")[0].strip()
        key = re.sub(r"[^A-Z0-9]", "_", name.upper())
        access[name] = {
            "groups": env_list(f"AIPORTAL_DATASET_ROOT_{key}_GROUPS"),
            "hidden": env_bool(f"AIPORTAL_DATASET_ROOT_{key}_HIDDEN", False),
        }
    return access


AIPORTAL_DATASET_ROOT_ACCESS = _dataset_root_access(AIPORTAL_DATASET_ROOTS)
AIPORTAL_FOLDER_MAX_FILES = env_int("AIPORTAL_FOLDER_MAX_FILES", 10000, minimum=1)
# Zip archives: checked from the central directory before anything is extracted.
AIPORTAL_ZIP_MAX_ENTRIES = env_int("AIPORTAL_ZIP_MAX_ENTRIES", 1000, minimum=1)
AIPORTAL_ZIP_MAX_TOTAL_BYTES = env_int("AIPORTAL_ZIP_MAX_TOTAL_BYTES", 500 * 2**20, minimum=1024)
AIPORTAL_ZIP_MAX_RATIO = env_int("AIPORTAL_ZIP_MAX_RATIO", 100, minimum=1)
# --- Datasets --------------------------------------------------------------------------------
# Uploaded files, one folder per dataset (generated names only).
AIPORTAL_DATASETS_DIR = Path(env_str("AIPORTAL_DATASETS_DIR", str(DATA_DIR / "datasets")))
# Old versions kept for rollback after a refill switches (a dataset may say otherwise).
AIPORTAL_DATASET_KEEP_VERSIONS = env_int("AIPORTAL_DATASET_KEEP_VERSIONS", 3, minimum=0)
# A refill holds its job under a lease it renews while it works; a worker that died is taken
# over once its lease has run out.
AIPORTAL_DATASET_LEASE = env_int("AIPORTAL_DATASET_LEASE_S", 30, minimum=2)
# Progress is written (and pushed to pages) at most this often.
AIPORTAL_DATASET_PROGRESS_INTERVAL = (
    env_int("AIPORTAL_DATASET_PROGRESS_INTERVAL_MS", 1000, minimum=50) / 1000
)
AIPORTAL_DATASET_REFILL_TIME_LIMIT = env_int(
    "AIPORTAL_DATASET_REFILL_TIME_LIMIT_S", 6 * 3600, minimum=60
)
# Attempts after a transient source failure (timeout, 5xx), with exponential backoff.
AIPORTAL_DATASET_REFILL_RETRIES = env_int("AIPORTAL_DATASET_REFILL_RETRIES", 4, minimum=0)
AIPORTAL_DATASET_RETRY_BACKOFF = env_int("AIPORTAL_DATASET_RETRY_BACKOFF_S", 30, minimum=1)
# Chunks are sized in tokens (an estimate: datasets/services/chunking.py). The character
# settings of before are deprecated aliases, converted at 4 characters a token, used only
# when the token setting is not set; AIPORTAL_DATASET_CHUNK_CHARS/_OVERLAP stay defined as
# the character equivalents for callers that cut by characters.
_CHARS_PER_TOKEN = 4
for _old, _new in (
    ("AIPORTAL_DATASET_CHUNK_CHARS", "AIPORTAL_DATASET_CHUNK_TOKENS"),
    ("AIPORTAL_DATASET_CHUNK_OVERLAP", "AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS"),
):
    if os.environ.get(_old, "").strip():
        warnings.warn(
            f"{_old} is deprecated: set {_new} (in tokens) instead"
            + (f"; {_new} is set and wins" if os.environ.get(_new, "").strip() else ""),
            FutureWarning,  # shown by default, unlike DeprecationWarning: for operators
            stacklevel=1,
        )
AIPORTAL_DATASET_CHUNK_TOKENS = env_int(
    "AIPORTAL_DATASET_CHUNK_TOKENS",
    env_int("AIPORTAL_DATASET_CHUNK_CHARS", 192 * _CHARS_PER_TOKEN, minimum=100)
    // _CHARS_PER_TOKEN,
    minimum=25,
)
AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS = env_int(
    "AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS",
    env_int("AIPORTAL_DATASET_CHUNK_OVERLAP", 24 * _CHARS_PER_TOKEN, minimum=0) // _CHARS_PER_TOKEN,
    minimum=0,
)
if AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS * 2 > AIPORTAL_DATASET_CHUNK_TOKENS:
    raise ImproperlyConfigured(
        "AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS must be at most half of "
        "AIPORTAL_DATASET_CHUNK_TOKENS"
    )
AIPORTAL_DATASET_CHUNK_CHARS = AIPORTAL_DATASET_CHUNK_TOKENS * _CHARS_PER_TOKEN
AIPORTAL_DATASET_CHUNK_OVERLAP = AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS * _CHARS_PER_TOKEN
# Per-document errors kept on a job (the count goes on past it).
AIPORTAL_DATASET_JOB_MAX_ERRORS = env_int("AIPORTAL_DATASET_JOB_MAX_ERRORS", 200, minimum=1)
# Matching chunks a search ranks at most per pass (ranking reads each one's text).
AIPORTAL_DATASET_SEARCH_CANDIDATES = env_int("AIPORTAL_DATASET_SEARCH_CANDIDATES", 2000, minimum=10)
# Retrieval by meaning (docs/datasets.md, "How retrieval works"): how a search ranks when the
# caller does not say ("fulltext", "vector" or "hybrid": both fused by reciprocal rank),
# the fusion's k (larger: the lists' top ranks weigh less against the rest) and the
# full-text list's weight in it (the vector list's is 1; both measured on Django's docs by
# bench/retrieval.py, docs/datasets.md "Figures"), the chunks one
# refill may embed at most (beyond it the refill fails and says so), the HNSW graph's
# search width on PostgreSQL (recall against time; pgvector's ef_search, at most 1000),
# and up to how many allowed chunks a search compares exactly instead of through the index.
AIPORTAL_DATASET_SEARCH_METHOD = env_str("AIPORTAL_DATASET_SEARCH_METHOD", "hybrid")
if AIPORTAL_DATASET_SEARCH_METHOD not in ("fulltext", "vector", "hybrid"):
    raise ImproperlyConfigured("AIPORTAL_DATASET_SEARCH_METHOD must be fulltext, vector or hybrid")
AIPORTAL_DATASET_RRF_K = env_int("AIPORTAL_DATASET_RRF_K", 20, minimum=1)
AIPORTAL_DATASET_FULLTEXT_WEIGHT = env_float("AIPORTAL_DATASET_FULLTEXT_WEIGHT", 0.6)
if not 0 <= AIPORTAL_DATASET_FULLTEXT_WEIGHT <= 10:
    raise ImproperlyConfigured("AIPORTAL_DATASET_FULLTEXT_WEIGHT must be between 0 and 10")
AIPORTAL_DATASET_EMBED_MAX_CHUNKS = env_int("AIPORTAL_DATASET_EMBED_MAX_CHUNKS", 200_000, minimum=1)
AIPORTAL_DATASET_VECTOR_EF_SEARCH = env_int("AIPORTAL_DATASET_VECTOR_EF_SEARCH", 100, minimum=10)
AIPORTAL_DATASET_VECTOR_EXACT_MAX = env_int("AIPORTAL_DATASET_VECTOR_EXACT_MAX", 20_000, minimum=0)
# Celery beat: start the refills whose schedule is due, recover jobs whose worker died, and
# expire old data exports.
# Retention purge (docs/operations.md, "Retention"): rows deleted per batch (one
# transaction each), and batches per hourly run; what is left waits for the next run.
AIPORTAL_RETENTION_BATCH = env_int("AIPORTAL_RETENTION_BATCH", 500, minimum=1)
AIPORTAL_RETENTION_MAX_BATCHES = env_int("AIPORTAL_RETENTION_MAX_BATCHES", 200, minimum=1)

CELERY_BEAT_SCHEDULE = {
    # Conversations deleted past their undo window (no GET purges them).
    "chat-conversations-purge": {
        "task": "chat.tasks.conversations_purge_deleted_run",
        "schedule": 60.0,
    },
    "datasets-refills-due": {"task": "datasets.tasks.dataset_refills_due_run", "schedule": 60.0},
    # The usage page's daily roll-ups of today and yesterday (gateway/usage_rollup.py).
    "gateway-usage-rollup": {"task": "gateway.tasks.usage_rollup_recent_run", "schedule": 300.0},
    # Retention: conversations, usage and audit events past their period (retention/).
    "retention-purge": {"task": "retention.tasks.retention_purge_run", "schedule": 3600.0},
    # Delete the "export my data" archives nobody downloaded within their day.
    "accounts-exports-expire": {
        "task": "accounts.tasks.data_exports_expire_run",
        "schedule": 3600.0,
    },
}

# --- Tracing (OpenTelemetry: aiportal/tracing.py, docs/operations.md "Tracing") ---------------
# Off unless the standard variables ask for it: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint
# with OTEL_TRACES_EXPORTER unset. OTEL_SDK_DISABLED=true turns it off whatever else is set.
# The exporter speaks OTLP over HTTP (protobuf); the SDK reads the endpoint, headers, service
# name, sampler and batching from their own OTEL_* variables.


def _tracing_wanted() -> bool:
    if env_bool("OTEL_SDK_DISABLED", False):
        return False
    exporters = [name.lower() for name in env_list("OTEL_TRACES_EXPORTER")]
    if exporters and exporters != ["none"] and exporters != ["otlp"]:
        raise ImproperlyConfigured("OTEL_TRACES_EXPORTER must be otlp or none")
    protocol = env_str("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env_str("OTEL_EXPORTER_OTLP_PROTOCOL"))
    wanted = exporters == ["otlp"] or (
        not exporters
        and bool(
            env_str("OTEL_EXPORTER_OTLP_ENDPOINT") or env_str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
    )
    if wanted and protocol not in {"", "http/protobuf"}:
        raise ImproperlyConfigured("aiportal exports traces over OTLP/HTTP: protocol http/protobuf")
    return wanted


AIPORTAL_TRACING = _tracing_wanted()
# OpenTelemetry metrics (the GenAI conventions' histograms) beside /metrics' Prometheus ones:
# only when asked for by name, OTEL_METRICS_EXPORTER=otlp (an endpoint alone does not).
_metrics_exporters = [name.lower() for name in env_list("OTEL_METRICS_EXPORTER")]
if _metrics_exporters not in ([], ["none"], ["otlp"]):
    raise ImproperlyConfigured("OTEL_METRICS_EXPORTER must be otlp or none")
AIPORTAL_OTEL_METRICS = _metrics_exporters == ["otlp"] and not env_bool("OTEL_SDK_DISABLED", False)
# Prompts, answers, tool arguments and results, retrieval queries on spans: off, an admin's
# decision (whoever reads the traces reads the conversations).
AIPORTAL_OTEL_CAPTURE_CONTENT = env_bool("AIPORTAL_OTEL_CAPTURE_CONTENT", False)

# Log lines as plain text, or as one JSON object each with the trace and span ids of the
# request they belong to (common/log_format.py), for a log pipeline to join with traces.
AIPORTAL_LOG_FORMAT = env_str("AIPORTAL_LOG_FORMAT", "plain")
if AIPORTAL_LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("AIPORTAL_LOG_FORMAT must be plain or json")
# A Celery worker replaces the root logger's handlers with its own plain ones unless told not to.
CELERY_WORKER_HIJACK_ROOT_LOGGER = AIPORTAL_LOG_FORMAT == "plain"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "common.log_format.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": AIPORTAL_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # httpx (dataset fetches) logs an INFO line for every request it makes.
        "httpx": {"level": "WARNING"},
    },
}
