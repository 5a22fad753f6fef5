"""The ``/scim/v2/`` endpoints (RFC 7644 §3-4). Thin: parse with scim2-models, call the
kind's service (scim/users.py, scim/groups.py), render with scim2-models."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from scim2_models import (
    Context,
    ListResponse,
    NotImplementedException,
    PatchOp,
    ResourceType,
    Schema,
    SearchRequest,
    ServiceProviderConfig,
)

from scim import discovery
from scim.filters import filter_query
from scim.http import (
    base_url,
    json_body,
    method_not_allowed,
    not_found,
    scim_response,
    scim_view,
)
from scim.kinds import GROUPS, USERS, Kind


def _row(kind: Kind, pk: str):
    row = kind.queryset().filter(pk=int(pk)).first() if pk.isdigit() else None
    if row is None:
        raise not_found(f"No {kind.name} with id {pk!r}.")
    return row


def _list(request: HttpRequest, kind: Kind, search: SearchRequest) -> HttpResponse:
    rows = kind.queryset()
    if search.filter:
        rows = rows.filter(filter_query(expression=str(search.filter), columns=kind.columns))
    rows = rows.distinct()
    total = rows.count()
    count = min(
        search.count if search.count is not None else discovery.MAX_RESULTS, discovery.MAX_RESULTS
    )
    start = search.start_index_0 or 0
    page = list(rows[start : start + count]) if count > 0 else []
    base = base_url(request)
    listing = ListResponse[kind.model](  # type: ignore[name-defined]
        total_results=total,
        start_index=start + 1,
        items_per_page=len(page),
        resources=[kind.resource(row, base) for row in page] or None,
    )
    return scim_response(
        listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=search)
    )


def _collection(kind: Kind):
    @scim_view
    def view(request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            search = SearchRequest[kind.model].model_validate(  # type: ignore[name-defined]
                request.GET.dict(), scim_ctx=Context.SEARCH_REQUEST
            )
            return _list(request, kind, search)
        if request.method == "POST":
            resource = kind.model.model_validate(
                json_body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST
            )
            row = kind.create(resource=resource, token=request.scim_token, ip=request.scim_ip)
            created = kind.resource(kind.queryset().get(pk=row.pk), base_url(request))
            return scim_response(
                created.model_dump(scim_ctx=Context.RESOURCE_CREATION_RESPONSE),
                status=201,
                Location=str(created.meta.location if created.meta else ""),
            )
        return method_not_allowed(["GET", "POST"])

    return view


def _search(kind: Kind):
    @scim_view
    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return method_not_allowed(["POST"])
        search = SearchRequest[kind.model].model_validate(  # type: ignore[name-defined]
            json_body(request), scim_ctx=Context.SEARCH_REQUEST
        )
        return _list(request, kind, search)

    return view


def _item(kind: Kind):
    @scim_view
    def view(request: HttpRequest, pk: str) -> HttpResponse:
        row = _row(kind, pk)
        base = base_url(request)
        by: dict[str, Any] = {"token": request.scim_token, "ip": request.scim_ip}
        if request.method == "GET":
            params = SearchRequest[kind.model].model_validate(  # type: ignore[name-defined]
                request.GET.dict(), scim_ctx=Context.SEARCH_REQUEST
            )
            resource = kind.resource(row, base)
            return scim_response(
                resource.model_dump(
                    scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params
                )
            )
        if request.method == "PUT":
            resource = kind.model.model_validate(
                json_body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
            )
            kind.replace(row, resource=resource, **by)
            context = Context.RESOURCE_REPLACEMENT_RESPONSE
        elif request.method == "PATCH":
            patch = PatchOp[kind.model].model_validate(  # type: ignore[name-defined]
                json_body(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST
            )
            kind.patch(row, patch=patch, base=base, **by)
            context = Context.RESOURCE_PATCH_RESPONSE
        elif request.method == "DELETE":
            kind.delete(row, **by)
            return HttpResponse(status=204)
        else:
            return method_not_allowed(["GET", "PUT", "PATCH", "DELETE"])
        updated = kind.resource(kind.queryset().get(pk=row.pk), base)
        return scim_response(updated.model_dump(scim_ctx=context))

    return view


users_collection = _collection(USERS)
users_search = _search(USERS)
user_item = _item(USERS)
groups_collection = _collection(GROUPS)
groups_search = _search(GROUPS)
group_item = _item(GROUPS)


def _discovery_list(request: HttpRequest, items: list, model) -> HttpResponse:
    listing = ListResponse[model](
        total_results=len(items), start_index=1, items_per_page=len(items), resources=items
    )
    return scim_response(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


def _discovery_one(items: list, pk: str, what: str) -> HttpResponse:
    for item in items:
        if item.id == pk:
            return scim_response(item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise not_found(f"No {what} {pk!r}.")


@scim_view
def service_provider_config(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed(["GET"])
    config: ServiceProviderConfig = discovery.service_provider_config()
    return scim_response(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@scim_view
def schemas(request: HttpRequest, pk: str | None = None) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed(["GET"])
    items = discovery.schemas()
    if pk is None:
        return _discovery_list(request, items, Schema)
    return _discovery_one(items, pk, "schema")


@scim_view
def resource_types(request: HttpRequest, pk: str | None = None) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed(["GET"])
    items = discovery.resource_types()
    if pk is None:
        return _discovery_list(request, items, ResourceType)
    return _discovery_one(items, pk, "resource type")


@scim_view
def root_search(request: HttpRequest) -> HttpResponse:
    raise NotImplementedException(detail="Search /Users/.search or /Groups/.search instead.")


@scim_view
def unknown(request: HttpRequest, rest: str) -> HttpResponse:
    raise not_found(f"No endpoint /{rest}.")
