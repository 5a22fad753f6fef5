"""Server folders, only under roots an admin configured, never through a link that leaves one.

``AIPORTAL_DATASET_ROOTS`` names the roots (``docs=/srv/docs,wiki=/srv/wiki``); a source
names a root and a path inside it, never an absolute path. Every file and directory is
resolved and checked to lie inside the root before it is read, and a regular file is opened
without following a link and checked once more through the descriptor, so a link swapped in
between the check and the open reads nothing outside either.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

from datasets.sources.archives import file_documents
from datasets.sources.base import DocumentError, SourceDocument, SourceError
from datasets.sources.formats import content_type_for


def folder_roots() -> dict[str, Path]:
    """The configured roots by name, resolved. A malformed entry raises ValueError naming it."""
    roots: dict[str, Path] = {}
    for entry in settings.AIPORTAL_DATASET_ROOTS:
        name, sep, path = entry.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path or not os.path.isabs(path):
            raise ValueError(f"AIPORTAL_DATASET_ROOTS entry {entry!r} must be name=/absolute/path")
        roots[name] = Path(path).resolve()
    return roots


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def folder_locate(*, root: str, path: str) -> tuple[Path, Path, str]:
    """(root directory, start directory or file, normalised relative path) for a source's
    config, or ValueError with a message a person can act on."""
    roots = folder_roots()
    if root not in roots:
        names = ", ".join(sorted(roots)) or "none are configured (AIPORTAL_DATASET_ROOTS)"
        raise ValueError(f"{root!r} is not a dataset root; the roots are: {names}")
    base = roots[root]
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
    *, root: str, path: str, known: Callable[[str, str], bool]
) -> Iterator[SourceDocument | DocumentError]:
    """Every readable file under the folder (or the one file), keyed ``folder:<path in the
    root>``. Hidden files and folders (a leading dot) and files of other types are skipped;
    a link leading outside the root is reported and not followed."""
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
                if entry.name.startswith("."):
                    continue
                shown = f"{shown_dir}/{entry.name}" if shown_dir else entry.name
                real = Path(entry.path)
                if entry.is_symlink():
                    real = real.resolve()
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
