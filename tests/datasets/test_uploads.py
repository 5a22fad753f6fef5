"""Uploads: stored under generated names within limits, read back per format; zip archives
are judged from their central directory before anything is extracted."""

from __future__ import annotations

import hashlib
import struct
import zipfile

import pytest

from datasets.sources import iter_documents, source_config_check, upload_store
from datasets.sources.base import DocumentError, SourceDocument, SourceError
from tests.datasets.files import make_docx, make_pdf, make_zip


def store(files_dir, name, data, *, pieces=3):
    size = max(1, len(data) // pieces)
    chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return upload_store(files_dir=files_dir, name=name, chunks=iter(chunks))


def collect(files_dir, files, known=lambda key, checksum: False):
    config = {"files": files}
    return list(iter_documents(kind="upload", config=config, files_dir=files_dir, known=known))


def test_a_stored_upload_has_a_generated_name_and_its_bytes(tmp_path):
    files_dir = tmp_path / "files"
    stored = store(files_dir, "Quarterly Report.PDF", make_pdf(["Q3"]))
    assert stored.endswith(".pdf")
    assert "Quarterly" not in stored
    assert [path.name for path in files_dir.iterdir()] == [stored]
    assert (files_dir / stored).read_bytes() == make_pdf(["Q3"])
    assert store(files_dir, "Quarterly Report.PDF", make_pdf(["Q3"])) != stored


@pytest.mark.parametrize(
    "name", ["../../etc/cron.d/evil.txt", "C:\\fakepath\\notes.txt", "/abs/notes.txt"]
)
def test_a_name_with_folders_cannot_choose_where_it_is_written(tmp_path, name):
    files_dir = tmp_path / "files"
    stored = store(files_dir, name, b"hello")
    assert (files_dir / stored).read_bytes() == b"hello"
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")) == [
        "files",
        f"files/{stored}",
    ]


def test_an_upload_over_the_limit_is_refused_and_nothing_is_left(tmp_path, settings):
    settings.AIPORTAL_DOCUMENT_MAX_BYTES = 2048
    settings.AIPORTAL_UPLOAD_MAX_BYTES = 4096
    with pytest.raises(SourceError, match="larger than the limit of 2048 bytes") as caught:
        store(tmp_path, "big.txt", b"x" * 3000)
    assert caught.value.retryable is False
    assert list(tmp_path.iterdir()) == []
    # An archive may be bigger than one document, up to the upload limit.
    assert store(tmp_path, "big.zip", make_zip({f"{i}.txt": bytes([i]) * 600 for i in range(5)}))
    with pytest.raises(SourceError, match="4096"):
        store(tmp_path, "bigger.zip", b"PK\x03\x04" + b"x" * 5000)
    assert len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("name", ["tool.exe", "photo.png", "noextension", "archive.tar.gz", ".."])
def test_a_type_aiportal_does_not_read_is_refused_at_upload(tmp_path, name):
    with pytest.raises(SourceError) as caught:
        store(tmp_path, name, b"data")
    assert caught.value.retryable is False
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "data"), [("fake.pdf", b"hello"), ("fake.docx", b"%PDF-1.4")])
def test_a_file_that_is_not_what_its_name_says_is_refused(tmp_path, name, data):
    with pytest.raises(SourceError, match="does not look like"):
        store(tmp_path, name, data)
    assert list(tmp_path.iterdir()) == []


def test_uploads_of_every_format_are_read_back(tmp_path):
    samples = {
        "notes.txt": b"plain notes",
        "readme.md": b"# Read me\n\nsteps",
        "page.html": b"<html><head><title>Page</title></head><body><p>body text</p></body></html>",
        "report.pdf": make_pdf(["pdf text"], title="Report"),
        "memo.docx": make_docx(title="Memo", heading="H", paragraphs=["docx text"], table=[["a"]]),
        "table.csv": b"k,v\nx,1\n",
        "data.json": b'{"answer": 42}',
        "rows.jsonl": b'{"q": "a"}\n{"q": "b"}\n',
    }
    files = [{"stored": store(tmp_path, n, data), "name": n} for n, data in samples.items()]
    docs = collect(tmp_path, files)
    assert all(isinstance(doc, SourceDocument) for doc in docs), docs
    got = {doc.key: doc for doc in docs}
    assert got["upload:report.pdf"].title == "Report"
    assert got["upload:report.pdf"].text == "pdf text"
    assert "docx text" in got["upload:memo.docx"].text
    assert got["upload:table.csv"].text == "k: x; v: 1"
    assert got["upload:data.json"].text == "answer: 42"
    assert got["upload:rows.jsonl"].text == "q: a\n\nq: b"
    assert got["upload:notes.txt"].checksum == hashlib.sha256(b"plain notes").hexdigest()
    assert got["upload:notes.txt"].size == len(b"plain notes")


def test_a_zip_upload_gives_one_document_per_entry(tmp_path):
    archive = make_zip(
        {
            "docs/": b"",
            "docs/a.md": b"# A\n\nalpha",
            "docs/b.txt": b"beta",
            "__MACOSX/docs/._a.md": b"junk",
            "image.png": b"\x89PNG",
            "inner.zip": make_zip({"x.txt": b"x"}),
        }
    )
    stored = store(tmp_path, "bundle.zip", archive)
    docs = {doc.key: doc for doc in collect(tmp_path, [{"stored": stored, "name": "bundle.zip"}])}
    assert sorted(docs) == [
        "upload:bundle.zip!docs/a.md",
        "upload:bundle.zip!docs/b.txt",
        "upload:bundle.zip!image.png",
        "upload:bundle.zip!inner.zip",
    ]
    assert docs["upload:bundle.zip!docs/a.md"].title == "A"
    assert docs["upload:bundle.zip!docs/b.txt"].text == "beta"
    assert isinstance(docs["upload:bundle.zip!image.png"], DocumentError)
    assert "not expanded" in docs["upload:bundle.zip!inner.zip"].message


def test_a_known_zip_entry_is_not_extracted_again(tmp_path):
    stored = store(tmp_path, "b.zip", make_zip({"a.txt": b"alpha"}))
    checksum = hashlib.sha256(b"alpha").hexdigest()
    (doc,) = collect(
        tmp_path,
        [{"stored": stored, "name": "b.zip"}],
        known=lambda key, sum_: (key, sum_) == ("upload:b.zip!a.txt", checksum),
    )
    assert doc.text is None
    assert doc.checksum == checksum


@pytest.fixture
def opened(monkeypatch):
    """Every entry zipfile is asked to open for reading: a refused archive must show none.
    (Opens for writing are the test building its archive.)"""
    calls = []
    real = zipfile.ZipFile.open

    def spy(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            calls.append(getattr(name, "filename", name))
        return real(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return calls


def refused(tmp_path, archive):
    stored = store(tmp_path, "evil.zip", archive)
    docs = collect(tmp_path, [{"stored": stored, "name": "evil.zip"}])
    assert len(docs) == 1
    assert isinstance(docs[0], DocumentError)
    assert docs[0].key == "upload:evil.zip"
    return docs[0].message


def test_a_zip_bomb_is_refused_before_extraction(tmp_path, opened):
    bomb = make_zip({"readme.txt": b"hi", "zeros.txt": b"\0" * 20_000_000})
    assert len(bomb) < 100_000
    assert "zip bomb" in refused(tmp_path, bomb)
    assert opened == []


def test_an_archive_over_the_total_size_is_refused_before_extraction(tmp_path, settings, opened):
    settings.AIPORTAL_ZIP_MAX_TOTAL_BYTES = 10_000
    archive = make_zip({f"{i}.txt": bytes(range(256)) * 20 for i in range(3)})
    assert "more than the limit of 10000" in refused(tmp_path, archive)
    assert opened == []


def test_an_archive_with_too_many_entries_is_refused_before_extraction(tmp_path, settings, opened):
    settings.AIPORTAL_ZIP_MAX_ENTRIES = 3
    archive = make_zip({f"{i}.txt": b"x" for i in range(4)})
    assert "4 entries" in refused(tmp_path, archive)
    assert opened == []


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "docs/../../evil.txt",
        "/etc/evil.txt",
        "C:/evil.txt",
        "..\\evil.txt",
        "c:evil.txt",
    ],
)
def test_a_traversal_archive_is_refused_before_extraction(tmp_path, opened, name):
    archive = make_zip({"fine.txt": b"fine", name: b"evil"})
    message = refused(tmp_path, archive)
    assert "climbs out" in message or "absolute path" in message
    assert opened == []


def test_an_archive_with_a_symbolic_link_is_refused_before_extraction(tmp_path, opened):
    archive = make_zip({"fine.txt": b"fine"}, links={"link.txt": "/etc/passwd"})
    assert "symbolic link" in refused(tmp_path, archive)
    assert opened == []


def test_an_archive_with_two_entries_of_one_name_is_refused(tmp_path, opened):
    archive = make_zip({"a.txt": b"one", "a.txt/": b"", "./a.txt": b"two"})
    assert "two entries named" in refused(tmp_path, archive)
    assert opened == []


def test_a_corrupt_archive_is_a_clear_error(tmp_path):
    assert "not a valid zip" in refused(tmp_path, b"PK\x03\x04" + b"\0" * 100)


def _declare_size(archive: bytes, size: int) -> bytes:
    """Rewrite an archive's one entry to claim ``size`` uncompressed bytes, in both headers."""
    data = bytearray(archive)
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, size)
    struct.pack_into("<I", data, central + 24, size)
    return bytes(data)


def test_an_entry_never_yields_more_than_its_header_declares(tmp_path):
    text = ("the real content is much longer than declared " * 2000).encode()
    archive = _declare_size(make_zip({"liar.txt": text}), 100)
    stored = store(tmp_path, "liar.zip", archive)
    (doc,) = collect(tmp_path, [{"stored": stored, "name": "liar.zip"}])
    # Reading stops at the declared 100 bytes, and the checksum of those does not match.
    assert isinstance(doc, DocumentError)
    assert doc.key == "upload:liar.zip!liar.txt"
    assert doc.message.startswith("liar.zip!liar.txt: it is corrupt")


def test_an_entry_over_the_document_limit_is_reported_and_its_siblings_kept(tmp_path, settings):
    settings.AIPORTAL_DOCUMENT_MAX_BYTES = 1024
    archive = make_zip({"big.txt": bytes(range(256)) * 8, "small.txt": b"small"})
    stored = store(tmp_path, "b.zip", archive)
    docs = {doc.key: doc for doc in collect(tmp_path, [{"stored": stored, "name": "b.zip"}])}
    assert "over the limit" in docs["upload:b.zip!big.txt"].message
    assert docs["upload:b.zip!small.txt"].text == "small"


def test_a_missing_stored_file_is_reported(tmp_path):
    (doc,) = collect(tmp_path, [{"stored": "0" * 32 + ".txt", "name": "gone.txt"}])
    assert isinstance(doc, DocumentError)
    assert "missing" in doc.message


def test_two_uploads_of_one_name_keep_the_first_and_report_the_second(tmp_path):
    first = store(tmp_path, "a.txt", b"first")
    second = store(tmp_path, "a.txt", b"second")
    files = [{"stored": first, "name": "a.txt"}, {"stored": second, "name": "a.txt"}]
    docs = collect(tmp_path, files)
    assert docs[0].text == "first"
    assert isinstance(docs[1], DocumentError)
    assert docs[1].key == "upload:a.txt#2"


@pytest.mark.parametrize(
    "files",
    [
        [{"stored": "../../etc/passwd", "name": "p.txt"}],
        [{"stored": "0" * 32 + ".txt/../../x", "name": "p.txt"}],
        [{"stored": "0" * 32 + ".txt", "name": "p.exe"}],
        [{"name": "p.txt"}],
        ["0" * 32 + ".txt"],
        "not a list",
    ],
)
def test_an_upload_config_that_names_files_upload_store_did_not_make_is_refused(tmp_path, files):
    with pytest.raises(ValueError):
        source_config_check(kind="upload", config={"files": files})
    with pytest.raises(SourceError) as caught:
        collect(tmp_path, files)
    assert caught.value.retryable is False


def test_the_upload_config_is_normalised():
    stored = "a" * 32 + ".txt"
    config = {"files": [{"stored": stored, "name": "C:\\fakepath\\n.txt", "extra": 1}]}
    assert source_config_check(kind="upload", config=config) == {
        "files": [{"stored": stored, "name": "n.txt"}]
    }


def test_an_upload_source_has_a_file_count_limit(settings):
    settings.AIPORTAL_UPLOAD_MAX_FILES = 2
    files = [{"stored": f"{i:032x}.txt", "name": f"{i}.txt"} for i in range(3)]
    with pytest.raises(ValueError, match="at most 2 files"):
        source_config_check(kind="upload", config={"files": files})
    assert len(source_config_check(kind="upload", config={"files": files[:2]})["files"]) == 2


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="not a kind of source"):
        source_config_check(kind="ftp", config={})
    with pytest.raises(SourceError):
        list(iter_documents(kind="ftp", config={}, files_dir=None, known=lambda k, c: False))
