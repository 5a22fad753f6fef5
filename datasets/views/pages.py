"""The user-facing dataset pages: server-rendered, one form per action, POST then redirect.

Thin: each view fetches the dataset through ``dataset_get`` with the user (a dataset they
cannot see is a 404 like an unknown id), calls one service, and says what happened. A level
too low for an action is the services' ``PermissionDenied`` (a 403: the person knows the
dataset exists). Messages a person can act on (bad URL, file too big) come back as flashes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.privacy.export import ACTIVE, ExportNotAvailable
from common.json_views import json_login_required
from common.text import form_refusal, refused_response
from datasets.models import Dataset, Grant, Level, RefillJob, Source
from datasets.privacy import dataset_export_latest, dataset_export_open, dataset_export_request
from datasets.selectors import (
    dataset_get,
    dataset_level_for,
    dataset_levels_for,
    dataset_list_visible,
    document_list,
    grant_list,
    refill_job_get,
    refill_job_list,
    source_list,
    version_list,
)
from datasets.selectors.storage import upload_room
from datasets.services import dataset_create, grant_revoke, source_add, source_remove
from datasets.services.grants_pending import grant_set_for
from datasets.services.refill import dataset_refill_cancel, dataset_refill_start
from datasets.services.sovereignty import (
    UploadFile,
    dataset_delete,
    dataset_files_upload,
)
from datasets.sources import folder_roots_usable
from datasets.sources.uploads import upload_limit_for
from datasets.upload_handler import CappedUploadHandler
from datasets.views.try_query import try_query_context
from gateway import regions_known

JOBS_SHOWN = 10


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _dataset(request: HttpRequest, pk: int, at_least: Level = Level.VIEW) -> Dataset:
    try:
        return dataset_get(user=request.user, id=pk, at_least=at_least)
    except Dataset.DoesNotExist:
        raise Http404("No such dataset.") from None


def _back(dataset: Dataset) -> HttpResponse:
    return redirect("datasets:detail", pk=dataset.pk)


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    form = {"name": "", "description": "", "allowed_regions": ""}
    if request.method == "POST":
        form = {key: request.POST.get(key, "").strip() for key in form}
        # One box per known region (or one text field when no worker is configured yet):
        # every value sent under the name, joined as the field stores them.
        form["allowed_regions"] = ", ".join(
            value.strip() for value in request.POST.getlist("allowed_regions") if value.strip()
        )
        try:
            dataset = dataset_create(
                user=request.user,
                name=form["name"],
                description=form["description"],
                allowed_regions=form["allowed_regions"],
                ip=_ip(request),
            )
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("Created “%(name)s”. Add files or sources next.") % {"name": dataset.name},
            )
            return _back(dataset)
    visible = list(
        dataset_list_visible(user=request.user).select_related("owner", "active_version")
    )
    levels = dataset_levels_for(user=request.user, datasets=visible)
    rows = [{"dataset": d, "level": levels[d.pk].label} for d in visible]
    return render(
        request,
        "datasets/list.html",
        {
            "rows": rows,
            "form": form,
            "regions": regions_known(),
            "regions_checked": {r.strip() for r in form["allowed_regions"].split(",")},
        },
        status=400 if request.method == "POST" else 200,
    )


@require_GET
@never_cache
@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, _dataset(request, pk))


def _detail_page(request: HttpRequest, dataset: Dataset, *, status: int = 200) -> HttpResponse:
    level = dataset_level_for(user=request.user, dataset=dataset)
    jobs = list(refill_job_list(user=request.user, dataset=dataset)[:JOBS_SHOWN])
    # Only the roots this person may use are offered; the service checks again on submit.
    roots = folder_roots_usable(user=request.user) if level >= Level.EDIT else []
    export = (
        dataset_export_latest(user=request.user, dataset=dataset) if level >= Level.MANAGE else None
    )
    context = {
        "dataset": dataset,
        "level": level,
        "can_query": level >= Level.QUERY,
        "can_edit": level >= Level.EDIT,
        "can_manage": level >= Level.MANAGE,
        "sources": source_list(user=request.user, dataset=dataset),
        "documents": document_list(user=request.user, dataset=dataset)[:500],
        "versions": version_list(user=request.user, dataset=dataset)[:20],
        "jobs": jobs,
        "active_job": next((j for j in jobs if j.status in RefillJob.ACTIVE), None),
        "grants": grant_list(user=request.user, dataset=dataset) if level >= Level.MANAGE else [],
        "levels": [(value, label) for value, label in Level.choices],
        "kinds": [
            k
            for k in Source.Kind.choices
            if k[0] != Source.Kind.UPLOAD and (k[0] != Source.Kind.FOLDER or roots)
        ],
        "roots": roots,
        "room": upload_room(user=request.user, dataset=dataset) if level >= Level.EDIT else None,
        "export": export,
        "export_active": export is not None and export.status in ACTIVE,
        **try_query_context(request, dataset, can_query=level >= Level.QUERY),
    }
    return render(request, "datasets/detail.html", context, status=status)


def _run(request: HttpRequest, dataset: Dataset, action, success: str) -> HttpResponse:
    """Call a service; a ValueError is the person's to fix, a PermissionDenied a 403."""
    try:
        action()
    except ValueError as exc:
        messages.error(request, str(exc))
    except Dataset.DoesNotExist:
        raise Http404("No such dataset.") from None
    else:
        messages.success(request, success)
    return _back(dataset)


# Multipart boundaries and headers around the files: a request this much over the room
# left may still fit.
_MULTIPART_SLACK = 64 * 1024


@csrf_exempt  # checked below, once the upload handler is in place (Django's documented way)
@require_POST
@login_required
def dataset_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything that can refuse an upload before its body is read does so here: no
    access, too low a level, a declared length over the request cap or the quotas' room
    (413). Then the body is parsed through CappedUploadHandler, which stops at the first
    file over its limit or past the room."""
    dataset = _dataset(request, pk)
    if dataset_level_for(user=request.user, dataset=dataset) < Level.EDIT:
        raise PermissionDenied(
            _("This needs the edit level on “%(name)s”.") % {"name": dataset.name}
        )
    room = upload_room(user=request.user, dataset=dataset)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    cap = settings.AIPORTAL_UPLOAD_MAX_REQUEST_BYTES
    if declared > cap:
        return _upload_refused(
            request,
            dataset,
            _(
                "This upload is %(size)s, more than the %(cap)s one upload may be "
                "(AIPORTAL_UPLOAD_MAX_REQUEST_BYTES): send fewer files at once, or put them "
                "in a zip."
            )
            % {"size": filesizeformat(declared), "cap": filesizeformat(cap)},
        )
    if room.bytes is not None and declared > room.bytes + _MULTIPART_SLACK:
        return _upload_refused(
            request,
            dataset,
            _("This upload (%(size)s) does not fit: %(why)s.")
            % {"size": filesizeformat(declared), "why": room.full},
        )
    handler = CappedUploadHandler(
        request, limit_for=upload_limit_for, room=room.bytes, full=room.full
    )
    request.upload_handlers.insert(0, handler)
    return _upload_parsed(request, dataset, handler)


def _upload_refused(request: HttpRequest, dataset: Dataset, message: str) -> HttpResponse:
    messages.error(request, _("Nothing was uploaded. %(why)s") % {"why": message})
    return _detail_page(request, dataset, status=413)


@csrf_protect
def _upload_parsed(
    request: HttpRequest, dataset: Dataset, handler: CappedUploadHandler
) -> HttpResponse:
    uploaded = request.FILES.getlist("files")
    # The site's text check leaves upload bodies to this view (common/text.py).
    if why := form_refusal(request):
        return refused_response(request, why)
    if handler.refused:
        return _upload_refused(request, dataset, f"{handler.refused}.")
    if not uploaded:
        messages.error(request, _("Choose one or more files to upload."))
        return _back(dataset)
    result = dataset_files_upload(
        dataset=dataset,
        user=request.user,
        files=[UploadFile(name=f.name, chunks=f.chunks()) for f in uploaded],
        ip=_ip(request),
    )
    if result.stored:
        # An upload is meant to be searched: start reading it (or join the refill under way,
        # which may have listed the files before these arrived: the page says so).
        dataset_refill_start(dataset=dataset, user=request.user, ip=_ip(request))
        messages.success(
            request,
            _("Uploaded %(files)s. Reading them now: the refill below shows how far it is.")
            % {"files": ", ".join(result.stored)},
        )
    for problem in result.refused:
        messages.error(request, _("Not uploaded: %(why)s") % {"why": problem})
    return _back(dataset)


def _source_config(kind: str, post) -> dict:
    if kind == Source.Kind.URLS:
        return {"urls": [line.strip() for line in post.get("urls", "").splitlines() if line]}
    if kind == Source.Kind.SITEMAP:
        return {"url": post.get("url", "").strip()}
    if kind == Source.Kind.FOLDER:
        return {"root": post.get("root", "").strip(), "path": post.get("path", "").strip()}
    raise ValueError(_("Choose a kind of source: URLs, sitemap or server folder."))


@require_POST
@login_required
def dataset_source_add(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    kind = request.POST.get("kind", "")
    return _run(
        request,
        dataset,
        lambda: source_add(
            dataset=dataset,
            user=request.user,
            kind=kind,
            config=_source_config(kind, request.POST),
        ),
        _("Source added. Refill the dataset to read it."),
    )


@require_POST
@login_required
def dataset_source_remove(request: HttpRequest, pk: int, source_pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    source = source_list(user=request.user, dataset=dataset).filter(pk=source_pk).first()
    if source is None:
        raise Http404("No such source.")
    return _run(
        request,
        dataset,
        lambda: source_remove(source=source, user=request.user),
        _("Source removed: its documents leave with the next refill."),
    )


@require_POST
@login_required
def dataset_grant_add(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    if dataset_level_for(user=request.user, dataset=dataset) < Level.MANAGE:
        raise PermissionDenied(_("This needs the manage level."))
    who = request.POST.get("who", "").strip()
    try:
        level = int(request.POST.get("level", ""))
    except ValueError:
        level = -1
    # The same answer whether or not "who" exists here (datasets/services/grants_pending.py).
    return _run(
        request,
        dataset,
        lambda: grant_set_for(
            dataset=dataset, user=request.user, who=who, level=level, ip=_ip(request)
        ),
        _(
            "Access set for %(who)s. Someone without an account yet gets it on signing up "
            "with that address; a group, once it exists."
        )
        % {"who": who},
    )


@require_POST
@login_required
def dataset_grant_revoke(request: HttpRequest, pk: int, grant_pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    try:
        grant = grant_list(user=request.user, dataset=dataset).get(pk=grant_pk)
    except Dataset.DoesNotExist:
        raise PermissionDenied(_("This needs the manage level.")) from None
    except Grant.DoesNotExist:
        raise Http404("No such grant.") from None
    return _run(
        request,
        dataset,
        lambda: grant_revoke(grant=grant, user=request.user, ip=_ip(request)),
        _("Access revoked."),
    )


@require_POST
@login_required
def dataset_refill(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    return _run(
        request,
        dataset,
        lambda: dataset_refill_start(dataset=dataset, user=request.user, ip=_ip(request)),
        _("Refill started."),
    )


@require_POST
@login_required
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        job = refill_job_get(user=request.user, id=pk)
    except RefillJob.DoesNotExist:
        raise Http404("No such refill.") from None
    return _run(
        request,
        job.dataset,
        lambda: dataset_refill_cancel(job=job, user=request.user, ip=_ip(request)),
        _("Refill cancelled."),
    )


@require_GET
@never_cache
@json_login_required
def job_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Polled every second by the dataset page while a refill runs (static/datasets/jobs.js)."""
    try:
        job = refill_job_get(user=request.user, id=pk)
    except RefillJob.DoesNotExist:
        return JsonResponse({"code": "not_found", "detail": "No such refill."}, status=404)
    return JsonResponse(
        {
            "id": job.pk,
            "status": job.status,
            "progress": round(job.progress, 4),
            "counts": job.counts,
            "message": job.message,
            "errors": job.errors[:20],
        }
    )


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def dataset_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    if dataset_level_for(user=request.user, dataset=dataset) < Level.MANAGE:
        raise PermissionDenied(_("This needs the manage level."))
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != dataset.name:
            messages.error(request, _("Type the dataset's name exactly to delete it."))
        else:
            dataset_delete(dataset=dataset, user=request.user, ip=_ip(request))
            messages.success(
                request, _("Deleted “%(name)s” and all its files.") % {"name": dataset.name}
            )
            return redirect(reverse("datasets:list"))
    return render(request, "datasets/delete.html", {"dataset": dataset})


@require_POST
@login_required
def dataset_export_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Start building the dataset's zip (a Celery job): never on a GET, which any page could
    make a reader's browser send (an image in rendered markdown, a prefetch)."""
    dataset = _dataset(request, pk)
    dataset_export_request(user=request.user, dataset=dataset, ip=_ip(request))
    messages.success(request, _("The export is being prepared. This page shows when it is ready."))
    return _back(dataset)


@require_GET
@never_cache
@login_required
def dataset_export_download(request: HttpRequest, pk: int, export_pk: int) -> HttpResponse:
    """The zip a job built for this person: a read of a finished file, nothing more."""
    dataset = _dataset(request, pk)
    try:
        archive = dataset_export_open(user=request.user, dataset=dataset, id=export_pk)
    except ExportNotAvailable:
        raise Http404("No such export, or it has expired.") from None
    return FileResponse(
        archive,
        as_attachment=True,
        filename=f"{dataset.slug}.zip",
        content_type="application/zip",
    )
