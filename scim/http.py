"""What every ``/scim/v2/`` view shares: bearer-token authentication, SCIM JSON in and out,
and every failure as a SCIM error document (RFC 7644 §3.12) with its status."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    NotFoundException,
    SCIMException,
    ScimPolicy,
    UniquenessException,
)

from accounts.audit import request_ip
from scim.tokens import scim_token_authenticate, scim_token_mark_used

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/scim+json"

# What the providers send beyond the strict RFC, accepted as scim2-models offers it: Entra ID
# removes group members with a ``value`` instead of a path filter, and replaces
# ``emails[type eq "work"].value`` when no work address exists yet (the entry is created);
# attributes no schema here declares (a provider's custom ones) are dropped, not refused.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


def scim_response(payload: dict[str, Any] | None, *, status: int = 200, **headers) -> HttpResponse:
    body = b"" if payload is None else json.dumps(payload).encode()
    response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def error_response(error: Error) -> HttpResponse:
    return scim_response(
        error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status=error.status or 400
    )


def base_url(request: HttpRequest) -> str:
    """The absolute URL of /scim/v2, for ``meta.location`` and members' ``$ref``."""
    return request.build_absolute_uri("/scim/v2")


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntaxException(detail="The body is not JSON.") from None
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="The body must be a JSON object.")
    return body


def _unauthorized() -> HttpResponse:
    response = error_response(Error(status=401, detail="A valid SCIM bearer token is required."))
    response.headers["WWW-Authenticate"] = 'Bearer realm="scim"'
    return response


def scim_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Authenticate by SCIM token (never by session or cookie, hence no CSRF check), put the
    token and the client's address on the request, and turn every SCIM or validation
    failure into its error document."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        token = scim_token_authenticate(raw=raw.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            return _unauthorized()
        scim_token_mark_used(token=token)
        request.scim_token = token
        request.scim_ip = request_ip(request)
        try:
            with POLICY:
                return view(request, *args, **kwargs)
        except SCIMException as exc:
            return error_response(exc.to_error())
        except ValidationError as exc:
            return error_response(Error.from_validation_error(exc.errors()[0]))
        except IntegrityError:
            # Two requests creating the same userName or group name at once: the loser's
            # insert hits the unique index after both passed the check.
            return error_response(
                UniquenessException(detail="A resource like it exists.").to_error()
            )

    return wrapped


def not_found(detail: str = "No such resource.") -> NotFoundException:
    return NotFoundException(detail=detail)


def method_not_allowed(allowed: list[str]) -> HttpResponse:
    response = error_response(Error(status=405, detail="Method not allowed."))
    response.headers["Allow"] = ", ".join(allowed)
    return response
