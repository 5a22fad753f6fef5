"""bench/retrieval_questions.json, the labelled questions the retrieval bench asks of Django's
docs: enough of them, each asked once, each pointing at pages by a well-formed path under
docs/ (that each page exists and answers was checked by hand against the sdist, not here:
the tests do not download Django)."""

from __future__ import annotations

import json
import re
from pathlib import Path

QUESTIONS = Path(__file__).resolve().parents[2] / "bench" / "retrieval_questions.json"
# A relative POSIX path of lower-case words, dashes and digits, ending in .txt.
PAGE = re.compile(r"[a-z0-9_-]+(/[a-z0-9_-]+)*\.txt")


def test_there_are_at_least_150_distinct_questions_each_with_relevant_pages():
    questions = json.loads(QUESTIONS.read_text())
    assert len(questions) >= 150
    texts = [" ".join(item["question"].lower().split()) for item in questions]
    assert len(set(texts)) == len(texts), "a question is asked twice"
    for item in questions:
        assert set(item) <= {"question", "relevant", "section"}, item
        assert len(item["question"].split()) >= 3, item
        relevant = item["relevant"]
        assert relevant and len(set(relevant)) == len(relevant), item
        for page in relevant:
            assert PAGE.fullmatch(page) and ".." not in page, page
        assert isinstance(item.get("section", ""), str)


def test_the_questions_spread_over_the_whole_documentation():
    questions = json.loads(QUESTIONS.read_text())
    first_pages = {item["relevant"][0] for item in questions}
    assert len(first_pages) >= 100
    areas = {page.rsplit("/", 1)[0] for page in first_pages}
    for area in ("topics/db", "topics/forms", "topics/auth", "topics/testing", "topics/i18n",
                 "ref/models", "ref/contrib/admin", "howto", "howto/deployment/wsgi"):  # fmt: skip
        assert area in areas, area
