"""Server folders, only under roots an admin configured, only for the people the admin named,
never through a link that leaves one.

``AIPORTAL_DATASET_ROOTS`` names the roots (``docs=/srv/docs,wiki=/srv/wiki``); a source
names a root and a path inside it, never an absolute path. A root is the operator's: only
staff may use it, unless ``AIPORTAL_DATASET_ROOT_<NAME>_GROUPS`` names the groups whose
members may too (``*``: everyone signed in). Who may is checked when a source is added or
changed (as the person doing it) and again on every refill (as the person who added it): a
person taken out of the group stops the folder being read. Hidden files and folders (a name
with a leading dot: ``.git``, ``.env``) are never read unless
``AIPORTAL_DATASET_ROOT_<NAME>_HIDDEN`` allows them.

Every file and directory is resolved and checked to lie inside the root before it is read,
and a regular file is opened without following a link and checked once more through the
descriptor, so a link swapped in between the check and the open reads nothing outside either.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from datasets.sources.archives import file_documents
from datasets.sources.base import DocumentError, SourceDocument, SourceError
from datasets.sources.formats import content_type_for

EVERYONE = "*"


@dataclass(frozen=True, slots=True)
class Root:
    name: str
    path: Path  # resolved
    groups: tuple[str, ...]  # besides staff, who may use it; ("*",) is everyone signed in
    hidden: bool  # whether names with a leading dot are read


def folder_roots() -> dict[str, Root]:
    """The configured roots by name, resolved. A malformed entry raises ValueError naming it."""
    roots: dict[str, Root] = {}
    access = settings.AIPORTAL_DATASET_ROOT_ACCESS
    for entry in settings.AIPORTAL_DATASET_ROOTS:
        name, sep, path = entry.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path or not os.path.isabs(path):
            raise ValueError(f"AIPORTAL_DATASET_ROOTS entry {entry!r} must be name=/absolute/path")
        options = access.get(name, {})
        roots[name] = Root(
            name=name,
            path=Path(path).resolve(),
            groups=tuple(options.get("groups", ())),
            hidden=bool(options.get("hidden", False)),
        )
    return roots


def _may_use(root: Root, user) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or EVERYONE in root.groups:
        return True
    return bool(root.groups) and user.groups.filter(name__in=root.groups).exists()


def folder_roots_usable(*, user) -> list[str]:
    """The names of the roots ``user`` may read folders from, sorted (for the source form)."""
    return sorted(name for name, root in folder_roots().items() if _may_use(root, user))


def folder_access_check(*, root: str, user) -> None:
    """ValueError unless ``user`` may use the root named ``root``. A root they may not use and
    one that does not exist get the same answer, which names only the roots they may use."""
    found = folder_roots().get(root) if isinstance(root, str) else None
    if found is not None and _may_use(found, user):
        return
    usable = folder_roots_usable(user=user)
    names = ", ".join(usable) if usable else "none (an admin decides who may use which)"
    raise ValueError(f"{root!r} is not a server folder root you may use; yours are: {names}")


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _hidden(path: Path, root: Path) -> bool:
    """Whether a name on the way from ``root`` to ``path`` (both resolved) starts with a dot."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def folder_locate(*, root: str, path: str) -> tuple[Path, Path, str]:
    """(root directory, start directory or file, normalised relative path) for a source's
    config, or ValueError with a message a person can act on."""
    roots = folder_roots()
    if root not in roots:
        names = ", ".join(sorted(roots)) or "none are configured (AIPORTAL_DATASET_ROOTS)"
        raise ValueError(f"{root!r} is not a dataset root; the roots are: {names}")
    found = roots[root]
    base = found.path
    if not base.is_dir():
        raise ValueError(f"the root {root!r} ({base}) is not a folder on this server")
    relative = (path or "").replace("\\", "/").strip()
    if relative.startswith("/") or (len(relative) > 1 and relative[1] == ":"):
        raise ValueError(f"{path!r} must be a path relative to the root {root!r}")
    parts = [part for part in relative.split("/") if part not in {"", "."}]
    if ".." in parts:
        raise ValueError(f"{path!r} may not climb out of the root with '..'")
    start = base.joinpath(*parts)
    real = start.resolve()
    if not _inside(real, base):
        raise ValueError(f"{path!r} leads outside the root {root!r} (through a link)")
    if not found.hidden and (any(part.startswith(".") for part in parts) or _hidden(real, base)):
        raise ValueError(
            f"{path!r} is or is inside a hidden file or folder (a name starting with a dot), "
            f"which the root {root!r} does not allow"
        )
    if not real.exists():
        raise ValueError(f"there is no {path!r} under the root {root!r}")
    return base, real, "/".join(parts)


def _open_inside(path: Path, root: Path) -> int:
    """A descriptor on the regular file ``path`` (already resolved), proven to be inside
    ``root`` after the open; OSError or ValueError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        proc = f"/proc/self/fd/{fd}"
        if os.path.exists(proc) and not _inside(Path(os.readlink(proc)), root):
            raise ValueError("it moved outside the root while being opened")
    except BaseException:
        os.close(fd)
        raise
    return fd


def folder_documents(
    *, root: str, path: str, known: Callable[[str, str], bool], reader
) -> Iterator[SourceDocument | DocumentError]:
    """Every readable file under the folder (or the one file), keyed ``folder:<path in the
    root>``, read on behalf of ``reader`` (the person who added the source), who must still
    be allowed to use the root. Hidden files and folders (a leading dot) are skipped unless
    the root allows them, files of other types always; a link leading outside the root is
    reported and not followed."""
    try:
        folder_access_check(root=root, user=reader)
    except ValueError:
        who = getattr(reader, "email", "") or "the person who added it"
        raise SourceError(
            f"the folder source {root}:{path or '/'} was not read: {who} may no longer use the "
            f"root {root!r}. Remove the source, or have someone who may use the root add it "
            "again. The active version is kept.",
            retryable=False,
        ) from None
    hidden = folder_roots()[root].hidden
    try:
        base, start, relative = folder_locate(root=root, path=path)
    except ValueError as exc:
        # The folder was there when the source was saved; an unmounted share may come back.
        raise SourceError(str(exc), retryable=True) from None
    files: list[tuple[str, Path]] = []
    errors: list[DocumentError] = []
    limit = settings.AIPORTAL_FOLDER_MAX_FILES

    def add(shown: str, real: Path) -> None:
        if content_type_for(shown) is None:
            return
        files.append((shown, real))
        if len(files) > limit:
            raise SourceError(
                f"the folder {root}:{relative or '/'} has more than {limit} files; point the "
                "source at a smaller folder or raise AIPORTAL_FOLDER_MAX_FILES",
                retryable=False,
            )

    if start.is_file():
        add(relative, start)
    else:
        # Walked by hand: os.walk cannot be told to follow a link only when it stays inside.
        stack: list[tuple[str, Path]] = [(relative, start)]
        visited = {start}
        while stack:
            shown_dir, real_dir = stack.pop()
            try:
                entries = sorted(os.scandir(real_dir), key=lambda entry: entry.name)
            except OSError as exc:
                errors.append(
                    DocumentError(key=f"folder:{shown_dir}", message=f"cannot list: {exc.strerror}")
                )
                continue
            subdirs = []
            for entry in entries:
                if entry.name.startswith(".") and not hidden:
                    continue
                shown = f"{shown_dir}/{entry.name}" if shown_dir else entry.name
                real = Path(entry.path)
                if entry.is_symlink():
                    real = real.resolve()
                    if not hidden and _inside(real, base) and _hidden(real, base):
                        continue  # a link to a hidden place is as hidden as the place
                    if not _inside(real, base):
                        errors.append(
                            DocumentError(
                                key=f"folder:{shown}",
                                message=f"{shown} is a link that leads outside the root "
                                f"{root!r}; it was not followed",
                            )
                        )
                        continue
                if real.is_dir():
                    if real not in visited:  # a link back up would loop forever
                        visited.add(real)
                        subdirs.append((shown, real))
                elif real.is_file():
                    add(shown, real)
            stack.extend(reversed(subdirs))
    yield from errors
    for shown, real in files:
        key = f"folder:{shown}"
        yield from _file_documents(key=key, shown=shown, real=real, base=base, known=known)


def _file_documents(
    *, key: str, shown: str, real: Path, base: Path, known: Callable[[str, str], bool]
) -> Iterator[SourceDocument | DocumentError]:
    content_type = content_type_for(shown) or "text/plain"
    try:
        fd = _open_inside(real, base)
    except (OSError, ValueError) as exc:
        yield DocumentError(key=key, message=f"{shown}: {getattr(exc, 'strerror', None) or exc}")
        return
    with os.fdopen(fd, "rb") as stream:
        yield from file_documents(
            key=key, name=shown, stream=stream, content_type=content_type, known=known
        )
