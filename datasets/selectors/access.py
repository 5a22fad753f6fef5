"""Who may do what with a dataset, read live from the grants on every call (no cache: a
revoked grant must take effect on the very next query)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from datasets.models import Dataset, Grant, Level


def _usable(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def grants_live(*, user: User) -> QuerySet[Grant]:
    """The grants that apply to ``user`` now: their own and their groups', not expired.
    Group membership is read in the same query, so leaving a group counts at once."""
    now = timezone.now()
    return Grant.objects.filter(
        Q(user=user) | Q(group__in=user.groups.values("pk")),
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
    )


def dataset_level_for(*, user: User | None, dataset: Dataset) -> Level | None:
    """The owner manages; anyone else has the highest of their live grants, or nothing.
    Staff are not implicitly granted anything: an admin who needs access grants it, and the
    grant is there to see."""
    if not _usable(user):
        return None
    if dataset.owner_id == user.pk:
        return Level.MANAGE
    best = grants_live(user=user).filter(dataset=dataset).aggregate(level=Max("level"))["level"]
    return None if best is None else Level(best)


def dataset_list_visible(*, user: User | None) -> QuerySet[Dataset]:
    """Datasets the user may at least view."""
    if not _usable(user):
        return Dataset.objects.none()
    granted = grants_live(user=user).filter(dataset=OuterRef("pk"))
    return Dataset.objects.filter(Q(owner=user) | Exists(granted))


def dataset_list_at_least(*, user: User | None, level: Level) -> QuerySet[Dataset]:
    if not _usable(user):
        return Dataset.objects.none()
    granted = grants_live(user=user).filter(dataset=OuterRef("pk"), level__gte=level)
    return Dataset.objects.filter(Q(owner=user) | Exists(granted))


def dataset_get(*, user: User | None, id: int, at_least: Level = Level.VIEW) -> Dataset:
    """Raises ``Dataset.DoesNotExist`` for a missing id and for one the user may not reach at
    ``at_least`` alike."""
    try:
        dataset = Dataset.objects.select_related("active_version").get(pk=id)
    except (ValueError, TypeError):
        raise Dataset.DoesNotExist from None
    level = dataset_level_for(user=user, dataset=dataset)
    if level is None or level < at_least:
        raise Dataset.DoesNotExist
    return dataset


def grant_list(*, user: User | None, dataset: Dataset) -> QuerySet[Grant]:
    """The dataset's grants, expired ones included (they are shown as such); managers only."""
    dataset_get(user=user, id=dataset.pk, at_least=Level.MANAGE)
    return Grant.objects.filter(dataset=dataset).select_related("user", "group").order_by("id")


def dataset_level_require(
    *, user: User | None, dataset: Dataset, level: Level, as_admin: bool = False
) -> Level:
    """For services: nothing at all → ``Dataset.DoesNotExist`` (a 404, as for a missing id);
    a level too low → ``PermissionDenied`` with what is needed (the user knows it exists).

    ``as_admin``: the Django admin is acting, on the staff member's model permissions (which
    the admin checked) rather than on a grant; only active staff may. The app never passes
    it, so staff still see nothing there that no grant gives them."""
    if as_admin:
        if not (_usable(user) and user.is_staff):
            raise PermissionDenied("Only staff act on datasets from the admin.")
        return Level.MANAGE
    have = dataset_level_for(user=user, dataset=dataset)
    if have is None:
        raise Dataset.DoesNotExist
    if have < level:
        raise PermissionDenied(f"This needs the {level.label} level on “{dataset.name}”.")
    return have


def dataset_levels_for(*, user: User | None, datasets: list[Dataset]) -> dict[int, Level]:
    """``dataset_level_for`` of many datasets in one query (a list page); datasets the user
    has no level on are left out."""
    if not _usable(user):
        return {}
    levels = {d.pk: Level.MANAGE for d in datasets if d.owner_id == user.pk}
    rest = [d.pk for d in datasets if d.pk not in levels]
    if rest:
        rows = (
            grants_live(user=user)
            .filter(dataset_id__in=rest)
            .values("dataset_id")
            .annotate(level=Max("level"))
        )
        levels.update({row["dataset_id"]: Level(row["level"]) for row in rows})
    return levels
