"""Server folders: only under configured roots, never through a link that leaves the root."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from datasets.sources import iter_documents, source_config_check
from datasets.sources.base import DocumentError, SourceDocument, SourceError
from tests.datasets.files import make_zip


@pytest.fixture
def root(tmp_path, settings):
    base = tmp_path / "root"
    (base / "handbook" / "deep").mkdir(parents=True)
    (base / "handbook" / "intro.md").write_text("# Intro\n\nWelcome aboard.")
    (base / "handbook" / "deep" / "leave.txt").write_text("25 days of leave.")
    (base / "handbook" / "photo.png").write_bytes(b"\x89PNG not read")
    (base / "handbook" / ".git").mkdir()
    (base / "handbook" / ".git" / "config.txt").write_text("hidden")
    (base / "handbook" / ".secret.txt").write_text("hidden")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwords.txt").write_text("root:hunter2")
    settings.AIPORTAL_DATASET_ROOTS = [f"docs={base}", f"other={tmp_path / 'other'}"]
    return base, outside


# Staff may use every root (tests/security/test_folder_roots.py is about who else may).
STAFF = SimpleNamespace(is_authenticated=True, is_active=True, is_staff=True, email="a@b.c")


def collect(config, known=lambda key, checksum: False):
    return list(
        iter_documents(kind="folder", config=config, files_dir=None, known=known, reader=STAFF)
    )


def by_key(docs):
    return {doc.key: doc for doc in docs}


def test_a_folder_gives_every_readable_file_and_skips_hidden_and_other_types(root):
    docs = by_key(collect({"root": "docs", "path": "handbook"}))
    assert sorted(docs) == ["folder:handbook/deep/leave.txt", "folder:handbook/intro.md"]
    intro = docs["folder:handbook/intro.md"]
    assert (intro.title, intro.content_type, intro.url) == ("Intro", "text/markdown", "")
    assert "Welcome aboard." in intro.text


def test_the_whole_root_and_a_single_file_can_be_sources(root):
    assert len(collect({"root": "docs", "path": ""})) == 2
    (doc,) = collect({"root": "docs", "path": "handbook/deep/leave.txt"})
    assert doc.key == "folder:handbook/deep/leave.txt"


def test_a_file_link_outside_the_root_is_reported_and_not_read(root):
    base, outside = root
    os.symlink(outside / "passwords.txt", base / "handbook" / "notes.txt")
    docs = by_key(collect({"root": "docs", "path": "handbook"}))
    error = docs["folder:handbook/notes.txt"]
    assert isinstance(error, DocumentError)
    assert "leads outside the root" in error.message
    texts = [doc.text for doc in docs.values() if isinstance(doc, SourceDocument)]
    assert len(texts) == 2
    assert not any("hunter2" in text for text in texts)


def test_a_directory_link_outside_the_root_is_reported_and_not_entered(root):
    base, outside = root
    os.symlink(outside, base / "handbook" / "escape")
    docs = by_key(collect({"root": "docs", "path": "handbook"}))
    assert isinstance(docs["folder:handbook/escape"], DocumentError)
    assert not any(key.startswith("folder:handbook/escape/") for key in docs)


def test_a_link_that_stays_inside_the_root_is_followed_and_a_loop_ends(root):
    base, _outside = root
    os.symlink(base / "handbook" / "deep" / "leave.txt", base / "handbook" / "alias.txt")
    os.symlink(base / "handbook", base / "handbook" / "deep" / "up")
    docs = by_key(collect({"root": "docs", "path": "handbook"}))
    assert docs["folder:handbook/alias.txt"].text == "25 days of leave."
    assert "folder:handbook/deep/leave.txt" in docs


def test_a_fifo_is_skipped_not_waited_on(root):
    base, _outside = root
    os.mkfifo(base / "handbook" / "pipe.txt")
    assert "folder:handbook/pipe.txt" not in by_key(collect({"root": "docs", "path": "handbook"}))


def test_a_zip_in_a_folder_gives_its_entries(root):
    base, _outside = root
    (base / "handbook" / "bundle.zip").write_bytes(make_zip({"a/b.txt": b"inside the zip"}))
    docs = by_key(collect({"root": "docs", "path": "handbook"}))
    assert docs["folder:handbook/bundle.zip!a/b.txt"].text == "inside the zip"


def test_a_file_over_the_size_limit_is_reported(root, settings):
    base, _outside = root
    settings.AIPORTAL_DOCUMENT_MAX_BYTES = 1024
    (base / "handbook" / "big.txt").write_text("x" * 2000)
    error = by_key(collect({"root": "docs", "path": "handbook"}))["folder:handbook/big.txt"]
    assert isinstance(error, DocumentError)
    assert "over the limit" in error.message


def test_a_folder_over_the_file_count_limit_fails_clearly(root, settings):
    settings.AIPORTAL_FOLDER_MAX_FILES = 1
    with pytest.raises(SourceError, match="more than 1 files") as caught:
        collect({"root": "docs", "path": "handbook"})
    assert caught.value.retryable is False


def test_a_folder_that_vanished_fails_retryably_instead_of_emptying_the_dataset(root):
    base, _outside = root
    config = source_config_check(kind="folder", config={"root": "docs", "path": "handbook"})
    (base / "handbook" / "deep" / "leave.txt").unlink()
    (base / "handbook" / "deep").rmdir()
    for name in ("intro.md", "photo.png", ".secret.txt", ".git/config.txt"):
        (base / "handbook" / name).unlink()
    (base / "handbook" / ".git").rmdir()
    (base / "handbook").rmdir()
    with pytest.raises(SourceError) as caught:
        collect(config)
    assert caught.value.retryable is True


def test_the_config_is_normalised(root):
    config = {"root": "docs", "path": "./handbook//deep/"}
    assert source_config_check(kind="folder", config=config) == {
        "root": "docs",
        "path": "handbook/deep",
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"root": "nope", "path": ""}, "not a dataset root; the roots are: docs, other"),
        ({"root": "docs", "path": "../outside"}, "may not climb out"),
        ({"root": "docs", "path": "handbook/../../outside"}, "may not climb out"),
        ({"root": "docs", "path": "/etc"}, "relative to the root"),
        ({"root": "docs", "path": "C:\\Windows"}, "relative to the root"),
        ({"root": "docs", "path": "missing"}, "there is no 'missing'"),
        ({"root": "docs"}, None),
        ({"path": "x"}, "needs a root"),
        ({"root": "other", "path": ""}, "is not a folder on this server"),
    ],
)
def test_the_config_refuses_what_is_outside_the_roots(root, config, message):
    if message is None:  # no path means the whole root
        assert source_config_check(kind="folder", config=config) == {"root": "docs", "path": ""}
        return
    with pytest.raises(ValueError, match=message):
        source_config_check(kind="folder", config=config)


def test_the_config_refuses_a_link_out_of_the_root(root):
    base, outside = root
    os.symlink(outside, base / "escape")
    with pytest.raises(ValueError, match="leads outside the root"):
        source_config_check(kind="folder", config={"root": "docs", "path": "escape"})


def test_a_malformed_roots_setting_names_the_entry(settings):
    settings.AIPORTAL_DATASET_ROOTS = ["docs=relative/path"]
    with pytest.raises(ValueError, match="AIPORTAL_DATASET_ROOTS entry 'docs=relative/path'"):
        source_config_check(kind="folder", config={"root": "docs", "path": ""})


def test_a_file_swapped_for_one_outside_after_the_check_is_caught_at_the_open(root):
    # The walk resolved and checked the path; the descriptor check catches a swap after that.
    from datasets.sources.folders import _open_inside

    base, outside = root
    with pytest.raises(ValueError, match="moved outside the root"):
        _open_inside(outside / "passwords.txt", base)
    fd = _open_inside(base / "handbook" / "intro.md", base)
    os.close(fd)
