"""Path traversal: no name a person sends, no entry in an archive they upload and no link in
a server folder makes aiportal read or write a file outside the place meant for it.

Through the dataset pages and a refill, as a person would. Each test plants a secret next to
the place being attacked and checks afterwards that nothing was written outside the dataset's
folder, that the secret is in no document, and that the export (the one place aiportal
writes names into a zip for someone else to unpack) carries no name that climbs.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from datasets.models import Document
from datasets.services import dataset_files_dir
from datasets.sources import upload_store
from datasets.sources.base import SourceError
from datasets.sources.uploads import STORED_NAME
from tests.datasets.export_support import dataset_export_fetch

pytestmark = pytest.mark.django_db

SECRET = "TOP-SECRET-OUTSIDE-THE-ROOT"

HOSTILE_NAMES = [
    "../../evil.txt",
    "../../../../../../tmp/evil.txt",
    "..\\..\\evil.txt",
    "/etc/evil.txt",
    "/tmp/evil.txt",
    "C:\\Windows\\evil.txt",
    "\\\\server\\share\\evil.txt",
    "....//....//evil.txt",
    "%2e%2e%2fevil.txt",
    "..%2F..%2Fevil.txt",
    "a\x00/../../evil.txt",
    "evil.txt\x00.pdf",
    "\u2025/evil.txt",  # two-dot leader
    "..\uff0f..\uff0fevil.txt",  # fullwidth solidus
    "..\u2215..\u2215evil.txt",  # division slash
    "\u202etxt.evil",  # right-to-left override
    "..",
    ".",
    "~/.bashrc.txt",
]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _files_outside(root: Path, allowed: Path) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and not path.is_relative_to(allowed) and "evil" in path.name
    ]


def _export_names(client: Client, dataset) -> list[str]:
    answer = dataset_export_fetch(client, dataset, dataset.owner)
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content))) as archive:
        return archive.namelist()


def _safe_member(name: str) -> bool:
    return not (
        name.startswith(("/", "\\"))
        or ".." in name.replace("\\", "/").split("/")
        or "\\" in name
        or "\x00" in name
        or (len(name) > 1 and name[1] == ":")
    )


def test_upload_names_never_choose_where_a_file_is_written(
    owner, dataset, datasets_dir, refill_now, tmp_path
):
    client = _client(owner)
    for name in HOSTILE_NAMES:
        upload = io.BytesIO(f"words for {name!r}".encode())
        upload.name = name
        assert client.post(f"/datasets/{dataset.pk}/upload/", {"files": [upload]}).status_code in {
            200,
            302,
        }
    files_dir = dataset_files_dir(dataset=dataset)
    stored = [path.name for path in files_dir.iterdir()] if files_dir.exists() else []
    assert stored and all(STORED_NAME.match(name) for name in stored), stored
    assert _files_outside(tmp_path, files_dir) == []
    assert not Path("/tmp/evil.txt").exists()
    refill_now(dataset)
    assert all(_safe_member(name) for name in _export_names(client, dataset))


def test_the_store_itself_refuses_or_neutralises_every_hostile_name(tmp_path):
    # Below Django's own multipart clean-up, which a future parser might not do.
    files_dir = tmp_path / "files"
    for name in HOSTILE_NAMES:
        try:
            stored = upload_store(files_dir=files_dir, name=name, chunks=[b"x"])
        except SourceError:  # refused (no usable name, a type it does not read): as good
            continue
        assert STORED_NAME.match(stored), (name, stored)
        assert (files_dir / stored).is_file()
    assert _files_outside(tmp_path, files_dir) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["files"]


def _zip(entries: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            archive.writestr(info, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix, so the mode below is read as one
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return out.getvalue()


ZIPS = {
    "climbs.zip": {"../evil.txt": b"x", "ok.txt": b"fine"},
    "deep.zip": {"a/b/../../../evil.txt": b"x"},
    "absolute.zip": {"/tmp/evil.txt": b"x"},
    "drive.zip": {"C:/evil.txt": b"x"},
    "backslash.zip": {"..\\evil.txt": b"x"},
    "unc.zip": {"\\\\server\\evil.txt": b"x"},
    "twice.zip": {"a.txt": b"one", "./a.txt/": b"", "a.txt ": b"two"},
}


def test_zip_entries_that_climb_or_link_are_refused_and_nothing_is_extracted(
    owner, dataset, upload, refill_now, tmp_path, datasets_dir
):
    outside = tmp_path / "secret.txt"
    outside.write_text(SECRET)
    archives = {name: _zip(entries) for name, entries in ZIPS.items()}
    archives["link.zip"] = _zip({"ok.txt": b"fine"}, links={"secret.txt": str(outside)})
    archives["dirlink.zip"] = _zip({}, links={"up": "../../.."})
    upload(dataset, archives)
    job = refill_now(dataset)
    refused = {error["key"] for error in job.errors}
    for name in ("climbs.zip", "deep.zip", "absolute.zip", "drive.zip", "backslash.zip"):
        assert f"upload:{name}" in refused, (name, job.errors)
    assert {"upload:link.zip", "upload:dirlink.zip", "upload:unc.zip"} <= refused
    # A refused archive gives nothing at all, not even its harmless entries.
    assert not Document.objects.filter(text__contains="fine").exists()
    assert not Document.objects.filter(text__contains=SECRET).exists()
    assert _files_outside(tmp_path, dataset_files_dir(dataset=dataset)) == []
    assert all(_safe_member(n) for n in _export_names(_client(owner), dataset))


@pytest.fixture
def folder_root(tmp_path, settings) -> Path:
    """A configured root ``docs`` holding one real file and links that lead out of it."""
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    (root / "inside" / "fine.txt").write_text("A fine document inside the root.")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (root / "linked-file.txt").symlink_to(outside / "secret.txt")
    (root / "linked-dir").symlink_to(outside)
    (root / "inside" / "up").symlink_to("../..")
    (root / "inside" / "passwd.txt").symlink_to("/etc/passwd")
    (root / "abs-dir").symlink_to("/etc")
    settings.AIPORTAL_DATASET_ROOTS = [f"docs={root}"]
    # Open to everyone: this file is about where a folder leads, test_folder_roots.py is
    # about who may use one.
    settings.AIPORTAL_DATASET_ROOT_ACCESS = {"docs": {"groups": ["*"]}}
    return root


def test_a_folder_source_cannot_be_pointed_outside_its_root(owner, dataset, folder_root):
    client = _client(owner)
    for path in [
        "..",
        "../outside",
        "inside/../../outside",
        "..\\outside",
        "/etc",
        str(folder_root.parent / "outside"),
        "C:\\Windows",
        "linked-dir",
        "linked-file.txt",
        "inside/up",
        "inside/up/outside",
        "abs-dir",
        "inside/passwd.txt",
    ]:
        client.post(
            f"/datasets/{dataset.pk}/sources/", {"kind": "folder", "root": "docs", "path": path}
        )
        assert not dataset.sources.exists(), path
    client.post(f"/datasets/{dataset.pk}/sources/", {"kind": "folder", "root": "/", "path": "etc"})
    assert not dataset.sources.exists()


def test_a_folder_refill_reads_inside_and_never_follows_a_link_out(
    owner, dataset, folder_root, refill_now
):
    _client(owner).post(
        f"/datasets/{dataset.pk}/sources/", {"kind": "folder", "root": "docs", "path": ""}
    )
    assert dataset.sources.count() == 1
    job = refill_now(dataset)
    keys = set(dataset.active_version.entries.values_list("key", flat=True))
    assert keys == {"folder:inside/fine.txt"}
    assert not Document.objects.filter(text__contains=SECRET).exists()
    assert not Document.objects.filter(text__contains="root:x:0:0").exists()
    reported = {error["key"] for error in job.errors}
    assert {"folder:linked-file.txt", "folder:linked-dir", "folder:abs-dir"} <= reported
    # A link swapped in after the source was saved is refused the same way.
    os.remove(folder_root / "inside" / "fine.txt")
    (folder_root / "inside" / "fine.txt").symlink_to(folder_root.parent / "outside" / "secret.txt")
    refill_now(dataset)
    assert not Document.objects.filter(text__contains=SECRET).exists()
