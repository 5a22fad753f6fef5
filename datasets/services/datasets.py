"""Creating and changing datasets and their sources."""

from __future__ import annotations

from functools import partial

from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import User
from datasets.models import Dataset, Grant, Level, Source
from datasets.selectors import dataset_level_require
from datasets.services.events import datasets_changed_publish
from datasets.services.storage import stored_files_sweep
from datasets.sources import folder_access_check, source_config_check
from gateway import regions_parse


def dataset_audience(*, dataset: Dataset) -> list[int]:
    """Everyone a change of the dataset concerns: its owner and whoever a grant (expired or
    not) names, directly or through a group."""
    grants = Grant.objects.filter(dataset=dataset)
    users = set(grants.filter(user__isnull=False).values_list("user_id", flat=True))
    users |= set(
        User.objects.filter(groups__dataset_grants__dataset=dataset).values_list("pk", flat=True)
    )
    return sorted(users | {dataset.owner_id})


def _slug_free(name: str) -> str:
    base = slugify(name)[:180] or "dataset"
    slug, n = base, 1
    while Dataset.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def dataset_create(
    *,
    user: User,
    name: str,
    description: str = "",
    allowed_regions: str = "",
    schedule_minutes: int = 0,
    keep_versions: int | None = None,
    ip: str | None = None,
) -> Dataset:
    name = " ".join(name.split())[:200]
    if not name:
        raise ValueError(_("Give the dataset a name."))
    regions_parse(allowed_regions)  # raises ValueError with a message for the person
    if schedule_minutes < 0 or (keep_versions is not None and keep_versions < 0):
        raise ValueError(_("The schedule and the versions kept cannot be negative."))
    for _attempt in range(5):
        try:
            with transaction.atomic():
                dataset = Dataset.objects.create(
                    name=name,
                    slug=_slug_free(name),
                    description=description,
                    owner=user,
                    allowed_regions=allowed_regions.strip(),
                    schedule_minutes=schedule_minutes,
                    keep_versions=keep_versions,
                )
                audit_record(
                    actor=user,
                    action="dataset.create",
                    target_type="dataset",
                    target_id=dataset.pk,
                    detail={"name": name, "allowed_regions": dataset.allowed_regions},
                    ip=ip,
                )
        except IntegrityError:
            continue  # another dataset took the same slug between the check and the insert
        datasets_changed_publish(user_ids=[user.pk])
        return dataset
    raise ValueError(_("Could not find a free short name for this dataset; try another name."))


_EDITABLE = {"name", "description", "allowed_regions", "schedule_minutes", "keep_versions"}


@transaction.atomic
def dataset_update(*, dataset: Dataset, user: User, **fields: object) -> Dataset:
    """Change settings (manage level): name, description, allowed_regions, schedule_minutes,
    keep_versions."""
    dataset_level_require(user=user, dataset=dataset, level=Level.MANAGE)
    unknown = set(fields) - _EDITABLE
    if unknown:
        raise ValueError(f"Cannot change {', '.join(sorted(unknown))}.")
    if "allowed_regions" in fields:
        regions_parse(str(fields["allowed_regions"]))
    for name, value in fields.items():
        setattr(dataset, name, value)
    dataset.full_clean(exclude=["owner", "active_version", "slug"])
    dataset.save()
    # Names and regions show on everyone's pages who can see the dataset.
    datasets_changed_publish(user_ids=dataset_audience(dataset=dataset))
    return dataset


def _folder_allowed(kind: str, config: dict, user: User) -> None:
    # Before the config is checked: its messages name every root, and a root the person may
    # not use must look exactly like one that does not exist.
    if kind == Source.Kind.FOLDER:
        folder_access_check(
            root=config.get("root") if isinstance(config, dict) else None, user=user
        )


@transaction.atomic
def source_add(
    *, dataset: Dataset, user: User, kind: str, config: dict, as_admin: bool = False
) -> Source:
    """Add a source (edit level); the config is checked and normalised by the sources
    package, whose ValueError says what to fix. A server folder needs a root the person may
    use; it is read with their rights from now on (``added_by``)."""
    dataset_level_require(user=user, dataset=dataset, level=Level.EDIT, as_admin=as_admin)
    if kind not in Source.Kind.values:
        raise ValueError(f"{kind!r} is not a kind of source.")
    _folder_allowed(kind, config, user)
    return Source.objects.create(
        dataset=dataset,
        kind=kind,
        config=source_config_check(kind=kind, config=config),
        added_by=user,
    )


@transaction.atomic
def source_update(*, source: Source, user: User, config: dict, as_admin: bool = False) -> Source:
    """Change a source's config (edit level). Whoever changes a server folder's path reads
    it with their rights from now on."""
    dataset_level_require(user=user, dataset=source.dataset, level=Level.EDIT, as_admin=as_admin)
    _folder_allowed(source.kind, config, user)
    source.config = source_config_check(kind=source.kind, config=config)
    source.added_by = user
    source.save(update_fields=["config", "added_by"])
    return source


@transaction.atomic
def source_remove(*, source: Source, user: User, as_admin: bool = False) -> None:
    """Remove a source (edit level). Its documents leave with the next refill; an upload
    source's files are deleted once this commits."""
    dataset_level_require(user=user, dataset=source.dataset, level=Level.EDIT, as_admin=as_admin)
    dataset = source.dataset
    source.delete()
    if source.kind == Source.Kind.UPLOAD:
        transaction.on_commit(partial(stored_files_sweep, dataset=dataset))
