"""bench/retrieval.py end to end on a made-up corpus of four pages and three questions, full
text only (no emulator): a folder source, a real refill, the figures in the JSON line. It
runs in the test's own database (``--use-configured-database``): a throwaway one would be
migrated from nothing, which costs more than the rest of the test together."""

from __future__ import annotations

import json
import os

import pytest

from bench.retrieval import main

PAGES = {
    "caching.txt": "Caching\n=======\n\nMemcached and Redis keep rendered pages for a while.",
    "topics/forms.txt": "Forms\n=====\n\nA form validates the submitted fields.",
    "topics/models.txt": "Models\n======\n\nA model maps a class to a database table.",
    "howto/deploy.txt": "Deploying\n=========\n\nGunicorn serves the site behind nginx.",
}
QUESTIONS = [
    # Only caching.txt has both words: first, and nothing else found.
    {"question": "memcached redis", "relevant": ["caching.txt"]},
    # Two relevant pages, only one findable: it comes first (recall 1/2, MRR 1,
    # nDCG 1 / (1 + 1/log2 3)).
    {"question": "gunicorn nginx", "relevant": ["howto/deploy.txt", "topics/models.txt"]},
    # No page has the word; one of its pages is not in the corpus at all (a typo in a
    # question file), which the bench points out.
    {"question": "zeppelin", "relevant": ["topics/forms.txt", "topics/nowhere.txt"]},
]


def test_the_bench_loads_a_folder_and_scores_full_text(tmp_path, db, capsys):
    corpus = tmp_path / "corpus"
    for name, text in PAGES.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text)
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(QUESTIONS))

    environ = dict(os.environ)
    main(
        ["--corpus", str(corpus), "--questions", str(questions), "--methods", "fulltext",
         "--json", "--use-configured-database"]
    )  # fmt: skip
    # The test process's environment is what every Daphne it starts later runs with: a
    # DEBUG=true left here turned their 404 pages into Django's technical ones.
    assert dict(os.environ) == environ

    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert "corpus: 4 documents" in out and "3 questions" in out
    assert lines[-2].startswith("fulltext")
    assert "warning: 1 relevant pages are not in the corpus: topics/nowhere.txt" in out
    figures = json.loads(lines[-1])
    assert set(figures) == {"corpus", "fulltext"}
    assert figures["corpus"]["documents"] == 4 and figures["corpus"]["chunks"] >= 4
    fulltext = figures["fulltext"]
    assert set(fulltext) == {"recall@5", "mrr@10", "ndcg@10", "ms_per_query"}
    assert fulltext["recall@5"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert fulltext["mrr@10"] == pytest.approx((1 + 1 + 0) / 3, abs=1e-4)
    second = 1 / (1 + 1 / 1.584962500721156)
    assert fulltext["ndcg@10"] == pytest.approx((1 + second + 0) / 3, abs=1e-4)
    assert fulltext["ms_per_query"] > 0
