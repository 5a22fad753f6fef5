"""bench/retrieval.py end to end on a made-up corpus of four pages and three questions, full
text only (no emulator): a folder source, a real refill, the figures in the JSON line. It
runs in the test's own database (``--use-configured-database``): a throwaway one would be
migrated from nothing, which costs more than the rest of the test together."""

from __future__ import annotations

import json
import os

import pytest
from django.conf import settings

from bench.retrieval import _arguments, fusion_settings, main

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


def _corpus(tmp_path):
    corpus = tmp_path / "corpus"
    for name, text in PAGES.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text)
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(QUESTIONS))
    return corpus, questions


def test_the_bench_loads_a_folder_and_scores_full_text(tmp_path, db, capsys):
    corpus, questions = _corpus(tmp_path)

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
    assert set(figures) == {"corpus", "fusion", "fulltext"}
    # The deployment's fusion settings, which the hybrid row (not run here) would use.
    assert figures["fusion"] == {
        "k": settings.AIPORTAL_DATASET_RRF_K,
        "fulltext_weight": settings.AIPORTAL_DATASET_FULLTEXT_WEIGHT,
    }
    assert figures["corpus"]["documents"] == 4 and figures["corpus"]["chunks"] >= 4
    fulltext = figures["fulltext"]
    assert set(fulltext) == {"recall@5", "mrr@10", "ndcg@10", "ms_per_query"}
    assert fulltext["recall@5"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert fulltext["mrr@10"] == pytest.approx((1 + 1 + 0) / 3, abs=1e-4)
    second = 1 / (1 + 1 / 1.584962500721156)
    assert fulltext["ndcg@10"] == pytest.approx((1 + second + 0) / 3, abs=1e-4)
    assert fulltext["ms_per_query"] > 0


def test_fusion_settings_are_read_as_k_and_weight_pairs_and_bad_ones_are_named():
    assert fusion_settings("10:0.5, 60:1") == [(10, 0.5), (60, 1.0)]
    assert fusion_settings("") == []
    for bad in ("10", "x:1", "0:1", "10:-1", "10:11"):
        with pytest.raises(ValueError, match=bad.split(",")[0]):
            fusion_settings(bad)


def test_fusion_rows_need_the_hybrid_method(capsys):
    with pytest.raises(SystemExit):
        _arguments(["--methods", "fulltext", "--fusion", "10:0.5"])
    assert "--fusion scores hybrid" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _arguments(["--fusion", "ten:half"])
    assert "expected K:WEIGHT" in capsys.readouterr().err


def test_the_bench_scores_hybrid_with_each_fusion_setting_asked_for(
    tmp_path, transactional_db, capsys
):
    """Through the emulator's hashed embeddings (no model): the plumbing, not a measure."""
    corpus, questions = _corpus(tmp_path)
    main(
        ["--corpus", str(corpus), "--questions", str(questions), "--methods", "vector,hybrid",
         "--embedding", "hashed", "--fusion", "10:0.5,60:0", "--json",
         "--use-configured-database"]
    )  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    assert {"vector", "hybrid", "hybrid k=10 w=0.5", "hybrid k=60 w=0"} <= set(figures)
    assert any(line.startswith("hybrid k=10 w=0.5") for line in lines[:-1])
    for row in ("hybrid k=10 w=0.5", "hybrid k=60 w=0"):
        assert set(figures[row]) == {"recall@5", "mrr@10", "ndcg@10", "ms_per_query"}
        assert 0 < figures[row]["ndcg@10"] <= 1
    # That each row searched with its own settings is tested on chunk_search itself
    # (tests/datasets/test_search.py): four pages are too few for the orders to differ.
