"""Authentication bypass: a path written another way, or a credential sent another way,
opens nothing that the plain request would not.

On a real Daphne, with requests written byte for byte (http.client sends the path as given:
no client-side normalisation of ``..``, ``%2e`` or ``//``), because the path a handler sees
is decided by Daphne and by aiportal/asgi.py's choice of handler for ``/v1/``. Three doors:

- ``/v1``: only ``Authorization: Bearer aip_…`` opens it. Not the browser session (the views
  are CSRF-exempt, so a cookie that worked would let any web page call the API as its
  visitor), not Basic, not a query parameter, not another header.
- ``/admin``: only a staff session.
- ``/metrics``: only AIPORTAL_METRICS_TOKEN when it is set.
"""

from __future__ import annotations

import base64
import http.client
from urllib.parse import urlsplit

import pytest
from django.test import Client

from tests.gateway.api_support import key_for
from tests.security.conftest import METRICS_TOKEN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(guarded_daphne) -> str:
    return guarded_daphne[0]


def send(base: str, path: str, *, method: str = "GET", headers=None, body=None):
    """One request with ``path`` exactly as written: (status, headers, body text)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", parts.netloc)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("latin-1")
    finally:
        connection.close()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


MODELS_PATHS = [
    "/v1/models",
    "//v1/models",
    "///v1/models",
    "/v1//models",
    "/v1/./models",
    "/v1/models/",
    "/v1/models/.",
    "/v1/%2e/models",
    "/v1/%2E%2E/v1/models",
    "/v1/..",
    "/v1/../v1/models",
    "/v1%2Fmodels",
    "/v1/models%2F",
    "/v1/models%00",
    "/v1/models.",
    "/v1./models",
    "/V1/models",
    "/v1/MODELS",
    "/v1;x/models",
    "/v1/models;x",
    "/v1/models?x=/../",
    "/%76%31/models",
    "/v1\\models",
    "http://127.0.0.1/v1/models",
]


def test_no_spelling_of_a_v1_path_answers_without_a_bearer_key(server, owner):
    cookie = session_cookie(owner)
    opened = []
    for path in MODELS_PATHS:
        for headers in ({}, {"Cookie": cookie}):
            status, _, body = send(server, path, headers=headers)
            assert status < 500, (path, status, body[:200])
            if status == 200 or '"object": "list"' in body or '"object":"list"' in body:
                opened.append((path, bool(headers), status))
    assert opened == []


def test_the_plain_path_with_a_bearer_key_does_answer(server, owner):
    # The control for the test above: the same server does open to the right credential.
    status, _, body = send(
        server, "/v1/models", headers={"Authorization": f"Bearer {key_for(owner)}"}
    )
    assert status == 200 and '"object"' in body


def test_v1_accepts_the_key_only_as_a_bearer_token(server, owner):
    token = key_for(owner)
    basic = base64.b64encode(f"{owner.email}:{token}".encode()).decode()
    basic_empty_user = base64.b64encode(f":{token}".encode()).decode()
    basic_token_user = base64.b64encode(f"{token}:".encode()).decode()
    ways = [
        ("/v1/models", {"Authorization": f"Basic {basic}"}),
        ("/v1/models", {"Authorization": f"Basic {basic_empty_user}"}),
        ("/v1/models", {"Authorization": f"Basic {basic_token_user}"}),
        ("/v1/models", {"Authorization": f"Token {token}"}),
        ("/v1/models", {"Authorization": token}),
        ("/v1/models", {"Authorization": f"Bearer{token}"}),
        ("/v1/models", {"X-API-Key": token}),
        ("/v1/models", {"api-key": token}),
        ("/v1/models", {"Cookie": f"api_key={token}"}),
        ("/v1/models", {"Cookie": session_cookie(owner)}),
        (f"/v1/models?api_key={token}", {}),
        (f"/v1/models?key={token}", {}),
        (f"/v1/models?access_token={token}", {}),
        (f"/v1/models?Authorization=Bearer%20{token}", {}),
    ]
    for path, headers in ways:
        status, response_headers, body = send(server, path, headers=headers)
        assert status == 401, (path, headers, status)
        assert response_headers.get("WWW-Authenticate") == "Bearer"
        assert token not in body


def test_a_session_cannot_post_to_v1_even_with_a_csrf_token(server, owner):
    client = Client()
    client.force_login(owner)
    client.get("/")  # the CSRF cookie
    csrf = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else "x"
    headers = {
        "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        "Content-Type": "application/json",
        "Origin": server,
    }
    body = b'{"model": "aiportal-emulator", "messages": [{"role": "user", "content": "hi"}]}'
    status, _, _ = send(server, "/v1/chat/completions", method="POST", headers=headers, body=body)
    assert status == 401


def test_head_options_and_other_methods_reveal_nothing_without_a_key(server):
    for method in ("HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "PATCH"):
        for path in ("/v1/models", "/v1/chat/completions", "/v1/models/aiportal-emulator"):
            status, _, body = send(server, path, method=method)
            assert status in {401, 405}, (method, path, status)
            assert "aiportal-emulator" not in body, (method, path)


ADMIN_PATHS = [
    "/admin/",
    "//admin/",
    "/admin//",
    "/ADMIN/",
    "/Admin/",
    "/admin/./",
    "/admin/%2e/",
    "/v1/../admin/",
    "/v1/%2e%2e/admin/",
    "/v1/%2E%2E/admin/accounts/user/",
    "/v1%2F..%2Fadmin/",
    "/admin;x/",
    "/admin/accounts/user/",
    "/admin/accounts/user/1/change/",
    "/admin/gateway/apikey/",
    "/admin./",
    "/%61dmin/",
]


def test_no_spelling_of_an_admin_path_opens_admin_to_a_non_staff_person(server, owner):
    cookie = session_cookie(owner)
    for path in ADMIN_PATHS:
        for method in ("GET", "HEAD", "OPTIONS"):
            for headers in ({}, {"Cookie": cookie}):
                status, response_headers, body = send(server, path, method=method, headers=headers)
                assert status < 500, (path, method, status)
                assert "Site administration" not in body, (path, method)
                assert "Select user to change" not in body, (path, method)
                if status == 200:
                    # Only the admin's own sign-in page answers 200, and asks to sign in.
                    assert 'name="password"' in body or method != "GET", (path, method)
                elif status in {301, 302}:
                    location = response_headers.get("Location", "")
                    assert "/admin/login/" in location or location.endswith("/"), (path, location)


METRICS_PATHS = [
    "/metrics",
    "//metrics",
    "/metrics/",
    "/METRICS",
    "/metrics.",
    "/metrics;x",
    "/v1/../metrics",
    "/v1/%2e%2e/metrics",
    "/%6detrics",
    "/metrics%00",
]


def test_no_spelling_of_the_metrics_path_answers_without_its_token(server, owner):
    ways = [
        {},
        {"Cookie": session_cookie(owner)},
        {"Authorization": f"Basic {base64.b64encode(f':{METRICS_TOKEN}'.encode()).decode()}"},
        {"Authorization": f"Token {METRICS_TOKEN}"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        {"X-Forwarded-For": "127.0.0.1"},
    ]
    for path in METRICS_PATHS:
        for headers in ways:
            for method in ("GET", "HEAD"):
                status, _, body = send(server, path, method=method, headers=headers)
                assert status in {301, 302, 401, 403, 404}, (path, headers, method, status)
                assert "aiportal_" not in body
    for path in (f"/metrics?token={METRICS_TOKEN}", f"/metrics?access_token={METRICS_TOKEN}"):
        assert send(server, path)[0] == 401
    status, _, body = send(server, "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200 and "aiportal_" in body
