"""Text out of every format, from files the tests make; a bad file is a clear DocumentError."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from datasets.sources.base import DocumentError, SourceDocument
from datasets.sources.formats import DOCX, FormatError, document_build, extract
from tests.datasets.files import make_docx, make_pdf, make_zip

ARTICLE = b"""<!doctype html><html><head><title>  Rivers of the
 valley </title><script>var secret = "script text";</script><style>p{color:red}</style></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/shop">Shop our catalogue</a></li></ul>
</nav><article><h1>Rivers</h1>
<p>The river flows through the valley and feeds the fields of the farmers who live along its
banks, year after year, as it has since long before the town was built.</p>
<p>In spring the snow melts in the mountains, and the water rises until it covers the low
meadows near the old mill, where the miller keeps his boats.</p></article>
<footer>Copyright 2026 Example Corp. All rights reserved.</footer></body></html>"""


def test_html_main_text_is_kept_and_scripts_and_menus_dropped():
    got = extract(ARTICLE, content_type="text/html", name="rivers.html")
    assert got.title == "Rivers of the valley"
    assert "The river flows through the valley" in got.text
    assert "the miller keeps his boats" in got.text
    assert "script text" not in got.text
    assert "color:red" not in got.text
    assert "Shop our catalogue" not in got.text


def test_a_short_html_page_still_gives_its_visible_text():
    page = b"<html><head><title>t</title><script>hide()</script></head><body><ul><li>one</li></ul>"
    got = extract(page, content_type="text/html", name="short.html")
    assert got.text == "one"


def test_xhtml_from_a_server_reads_as_html():
    got = extract(ARTICLE, content_type="application/xhtml+xml", name="x")
    assert "snow melts" in got.text


def test_pdf_text_and_title():
    data = make_pdf(["Quarterly report (draft)", "Revenue grew by 4 percent."], title="Q3 Report")
    got = extract(data, content_type="application/pdf", name="q3.pdf")
    assert got.title == "Q3 Report"
    assert "Quarterly report (draft)" in got.text
    assert "Revenue grew by 4 percent." in got.text


def test_a_pdf_without_title_is_named_by_its_file():
    got = extract(make_pdf(["Body"]), content_type="application/pdf", name="folder/plain.pdf")
    assert got.title == "plain.pdf"


def test_a_password_protected_pdf_is_a_clear_error():
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(["secret"]))))
    writer.encrypt(user_password="hunter2", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(FormatError, match="password"):
        extract(out.getvalue(), content_type="application/pdf", name="locked.pdf")


def test_a_pdf_without_a_text_layer_says_so():
    with pytest.raises(FormatError, match="no text layer"):
        extract(make_pdf([]), content_type="application/pdf", name="scan.pdf")


def test_a_broken_pdf_is_a_clear_error():
    with pytest.raises(FormatError, match="could not be read as application/pdf"):
        extract(b"%PDF-1.4\n garbage", content_type="application/pdf", name="broken.pdf")


def test_docx_paragraphs_tables_and_title():
    data = make_docx(
        title="Handbook",
        heading="Holidays",
        paragraphs=["Everyone gets 25 days.", "Ask your manager first."],
        table=[["Team", "Contact"], ["Support", "Ada"]],
    )
    got = extract(data, content_type=DOCX, name="handbook.docx")
    assert got.title == "Handbook"
    lines = got.text.splitlines()
    assert lines[:3] == ["Holidays", "Everyone gets 25 days.", "Ask your manager first."]
    assert "Team | Contact" in got.text
    assert "Support | Ada" in got.text


def test_a_docx_that_is_a_zip_bomb_is_refused_before_python_docx_reads_it(settings):
    settings.AIPORTAL_ZIP_MAX_RATIO = 50
    bomb = make_zip({"[Content_Types].xml": b"<x/>", "word/document.xml": b" " * 5_000_000})
    with pytest.raises(FormatError, match="zip bomb"):
        extract(bomb, content_type=DOCX, name="bomb.docx")


def test_a_docx_that_is_not_a_zip_is_a_clear_error():
    with pytest.raises(FormatError, match=r"not a valid \.docx"):
        extract(b"just text", content_type=DOCX, name="fake.docx")


def test_csv_rows_name_their_columns():
    data = b"name;city;note\nAda;London;\nGrace;New York;admiral\n"
    got = extract(data, content_type="text/csv", name="people.csv")
    assert got.text.splitlines() == [
        "name: Ada; city: London",
        "name: Grace; city: New York; note: admiral",
    ]


def test_json_values_are_kept_with_the_keys_that_lead_to_them():
    data = json.dumps(
        {
            "title": "Guide",
            "sections": [{"heading": "Start", "body": "Install it."}],
            "n": 3,
            "draft": False,
            "empty": None,
        }
    ).encode()
    got = extract(data, content_type="application/json", name="guide.json")
    assert got.text.splitlines() == [
        "title: Guide",
        "sections.heading: Start",
        "sections.body: Install it.",
        "n: 3",
        "draft: false",
    ]


def test_deeply_nested_json_is_an_error_not_a_crash():
    with pytest.raises(FormatError):
        extract(b"[" * 100_000 + b"]" * 100_000, content_type="application/json", name="d.json")


def test_jsonl_records_are_kept_apart():
    data = b'{"q": "What?", "a": "That."}\n\n{"q": "Why?", "a": "Because."}\n'
    got = extract(data, content_type="application/jsonl", name="faq.jsonl")
    assert got.text == "q: What?\na: That.\n\nq: Why?\na: Because."


def test_a_bad_jsonl_line_is_named():
    with pytest.raises(FormatError, match="line 2"):
        extract(b'{"a": 1}\n{oops\n', content_type="application/jsonl", name="x.jsonl")


def test_markdown_title_comes_from_its_first_heading():
    got = extract(b"intro\n\n## Setup ##\n\ntext", content_type="text/markdown", name="a.md")
    assert got.title == "Setup"
    assert "## Setup ##" in got.text


def test_a_markdown_title_is_named_without_its_inline_markup():
    got = extract(b"# The `pip` **guide**\n\ntext", content_type="text/markdown", name="a.md")
    assert got.title == "The pip guide"
    assert "# The `pip` **guide**" in got.text  # the text itself is untouched


# Detection needs a sentence or two, as any real legacy-encoded file has.
LATIN = (
    "Le caf\u00e9 \u00e9tait ferm\u00e9 ce matin, alors nous avons pris une cr\u00e8me "
    "br\u00fbl\u00e9e \u00e0 la p\u00e2tisserie pr\u00e8s de la gare. Apr\u00e8s, nous "
    "sommes all\u00e9s au mus\u00e9e o\u00f9 les \u00e9l\u00e8ves \u00e9tudiaient."
)
CYRILLIC = (
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430? "
    "\u0421\u0435\u0433\u043e\u0434\u043d\u044f \u0445\u043e\u0440\u043e\u0448\u0430\u044f "
    "\u043f\u043e\u0433\u043e\u0434\u0430, \u0438 \u043c\u044b "
    "\u043f\u043e\u0439\u0434\u0451\u043c "
    "\u0433\u0443\u043b\u044f\u0442\u044c \u0432 \u043f\u0430\u0440\u043a."
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("caf\u00e9 cr\u00e8me".encode(), "caf\u00e9 cr\u00e8me"),
        (LATIN.encode("cp1252"), LATIN),
        (CYRILLIC.encode("cp1251"), CYRILLIC),
        ("\ufeffbom".encode(), "bom"),
        ("utf16 text".encode("utf-16"), "utf16 text"),
        (b"nul\x00byte\r\nline", "nulbyte\nline"),
    ],
)
def test_text_in_any_common_encoding(data, expected):
    assert extract(data, content_type="text/plain", name="a.txt").text == expected


def test_an_empty_document_is_a_clear_error():
    with pytest.raises(FormatError, match="no text"):
        extract(b"  \n ", content_type="text/plain", name="empty.txt")


def test_an_unknown_type_is_refused():
    with pytest.raises(FormatError, match="not a format"):
        extract(b"x", content_type="image/png", name="a.png")


def test_a_known_document_is_not_extracted_again():
    data = b"%PDF-1.4 not really a pdf"
    checksum = hashlib.sha256(data).hexdigest()
    asked = []

    def known(key, sum_):
        asked.append((key, sum_))
        return sum_ == checksum

    reused = document_build(
        key="upload:a.pdf", name="a.pdf", data=data, content_type="application/pdf", known=known
    )
    assert isinstance(reused, SourceDocument)
    assert reused.text is None
    assert (reused.checksum, reused.size) == (checksum, len(data))
    assert reused.content_type == "application/pdf"
    assert asked == [("upload:a.pdf", checksum)]
    # The same bytes, not known, are extracted, and fail as what they are.
    fresh = document_build(
        key="upload:a.pdf",
        name="a.pdf",
        data=data,
        content_type="application/pdf",
        known=lambda key, sum_: False,
    )
    assert isinstance(fresh, DocumentError)
    assert fresh.key == "upload:a.pdf"
    assert fresh.message.startswith("a.pdf: ")
