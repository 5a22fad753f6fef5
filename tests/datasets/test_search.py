"""The one search selector: live grants on every call, active versions only, ranking, and a
query that cannot speak either engine's query syntax."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from datasets.models import Level
from datasets.selectors import chunk_search
from datasets.services import dataset_create, grant_set
from datasets.services.chunking import CONTEXT_SEPARATOR

pytestmark = pytest.mark.django_db


def path(*parts: str) -> str:
    return CONTEXT_SEPARATOR.join(parts)


def _search(user, ids, query, limit=8):
    return chunk_search(user=user, query=query, dataset_ids=ids, limit=limit)


@pytest.fixture
def two(dataset, upload, refill_now, owner):
    other = dataset_create(user=owner, name="Second")
    upload(dataset, {"cats.txt": "Cats purr. Cats sleep all day long.", "dogs.txt": "Dogs bark."})
    upload(other, {"cats.txt": "A cat catalogue of cats."})
    refill_now(dataset)
    refill_now(other)
    return dataset, other


def test_it_finds_words_in_every_dataset_asked_ranked(two, owner):
    first, second = two
    hits = _search(owner, [first.pk, second.pk], "cats")
    assert {(hit.dataset_id, hit.key) for hit in hits} == {
        (first.pk, "upload:cats.txt"),
        (second.pk, "upload:cats.txt"),
    }
    assert hits[0].score >= hits[1].score > 0
    assert _search(owner, [first.pk], "dogs sleeping")[0].key in {
        "upload:dogs.txt",
        "upload:cats.txt",
    }


def test_it_stems_and_matches_any_word(two, owner):
    first, _ = two
    keys = {hit.key for hit in _search(owner, [first.pk], "barking sleeping")}
    assert keys == {"upload:dogs.txt", "upload:cats.txt"}


def test_only_datasets_the_user_may_query_are_searched(two, owner, member):
    first, second = two
    grant_set(dataset=first, user=owner, for_user=member, level=Level.VIEW)
    assert _search(member, [first.pk, second.pk], "cats") == []
    grant_set(dataset=first, user=owner, for_user=member, level=Level.QUERY)
    assert {hit.dataset_id for hit in _search(member, [first.pk, second.pk], "cats")} == {first.pk}
    assert _search(member, [second.pk, 10**9], "cats") == []


def test_only_the_active_version_is_searched(dataset, upload, refill_now, owner):
    upload(dataset, {"a.txt": "walrus"})
    refill_now(dataset)
    upload(dataset, {"a.txt": "narwhal"})
    refill_now(dataset)  # version 1 is kept (retired) but not searched
    assert _search(owner, [dataset.pk], "walrus") == []
    assert [hit.text for hit in _search(owner, [dataset.pk], "narwhal")] == ["narwhal"]


def test_a_dataset_never_refilled_has_nothing_to_find(dataset, owner):
    assert _search(owner, [dataset.pk], "anything") == []


@pytest.mark.parametrize(
    "query",
    ['cats" OR "dogs', "cats') | ('dogs", "cats & !dogs", "NEAR(cats dogs)", "cats:*", "-cats"],
)
def test_query_syntax_is_words_only(two, owner, query):
    first, _ = two
    # Whatever the punctuation, it is the words that are searched, and nothing breaks.
    hits = _search(owner, [first.pk], query)
    assert {hit.key for hit in hits} <= {"upload:cats.txt", "upload:dogs.txt"}
    assert hits


def test_nothing_to_search_for_gives_nothing(two, owner):
    first, _ = two
    assert _search(owner, [first.pk], "  ?! ") == []
    assert _search(owner, [], "cats") == []
    assert _search(owner, [first.pk], "cats", limit=0) == []


def test_the_limit_is_kept(dataset, upload, refill_now, owner):
    upload(dataset, {f"{n}.txt": f"heron number {n}" for n in range(12)})
    refill_now(dataset)
    assert len(_search(owner, [dataset.pk], "heron", limit=5)) == 5
    assert len(_search(owner, [dataset.pk], "heron", limit=50)) == 12


def test_the_same_bytes_under_two_keys_are_one_hit(dataset, upload, refill_now, owner):
    upload(dataset, {"a.txt": "pelican", "b.txt": "pelican"})
    refill_now(dataset)
    assert [hit.key for hit in _search(owner, [dataset.pk], "pelican")] == ["upload:a.txt"]


def test_chunks_with_every_word_come_first(dataset, upload, refill_now, owner):
    upload(
        dataset,
        {
            "one.txt": "otters otters otters otters",
            "both.txt": "otters and beavers",
            "b.txt": "beavers",
        },
    )
    refill_now(dataset)
    keys = [hit.key for hit in _search(owner, [dataset.pk], "otters beavers")]
    assert keys[0] == "upload:both.txt" and set(keys) == {
        "upload:one.txt",
        "upload:both.txt",
        "upload:b.txt",
    }


def test_each_pass_ranks_a_bounded_number_of_candidates(
    dataset, upload, refill_now, owner, settings
):
    upload(dataset, {f"{n}.txt": f"ibis number {n}" for n in range(12)})
    refill_now(dataset)
    settings.AIPORTAL_DATASET_SEARCH_CANDIDATES = 10
    assert len(_search(owner, [dataset.pk], "ibis", limit=50)) == 10


def test_a_typical_chunk_keeps_its_tsvector_in_its_row(dataset, upload, refill_now, owner):
    """Ranking reads each candidate's tsvector: out of line (TOAST) it costs several more
    reads per candidate. Rows of the chunk size a refill makes must not be toasted."""
    rng = random.Random(3)
    words = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10)))
        for _ in range(3000)
    ]
    text = " ".join(rng.choice(words) for _ in range(400))  # ~2.5 KB: several full-size chunks
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'pg_toast.' || t.relname FROM pg_class c"
            " JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relname = 'datasets_chunk'"
        )
        toast = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {toast}")  # noqa: S608 -- a catalog name
        before = cursor.fetchone()[0]
        upload(dataset, {"long.txt": text})
        refill_now(dataset)
        cursor.execute(
            "SELECT max(pg_column_size(search)) FROM datasets_chunk c JOIN datasets_document d"
            " ON d.id = c.document_id WHERE d.dataset_id = %s",
            [dataset.pk],
        )
        assert cursor.fetchone()[0] > 1000  # a tsvector as large as a full chunk's
        cursor.execute(f"SELECT count(*) FROM {toast}")  # noqa: S608
        assert cursor.fetchone()[0] == before


GUIDE_MD = """# Field guide

Read this before going out.

## Waders

### Herons

They stand still in the shallows and strike fast.

## Swimmers

Ducks paddle on the pond.
"""


def test_a_word_only_in_a_heading_path_finds_the_chunks_under_it(
    dataset, upload, refill_now, owner, settings
):
    # Small chunks, so that the herons' section is a chunk of its own under "## Waders".
    settings.AIPORTAL_DATASET_CHUNK_TOKENS = 16
    settings.AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS = 0
    upload(dataset, {"guide.md": GUIDE_MD, "notes.txt": "Herons are not ducks."})
    refill_now(dataset)
    hits = _search(owner, [dataset.pk], "waders")
    (herons,) = [hit for hit in hits if "shallows" in hit.text]
    # "waders" is not in its text: only in its heading path, which search reads too.
    assert "wader" not in herons.text.lower()
    assert herons.context == path("Field guide", "Waders", "Herons")
    assert herons.key == "upload:guide.md"
    # The title of a plain-text document is carried too (its file name here).
    notes = [hit for hit in _search(owner, [dataset.pk], "herons") if hit.key.endswith("txt")]
    assert [hit.context for hit in notes] == ["notes.txt"]
    (pond,) = _search(owner, [dataset.pk], "swimmers pond")[:1]
    assert pond.context == path("Field guide", "Swimmers")


def test_a_question_is_searched_for_its_words_not_its_stop_words():
    from datasets.selectors.search import _terms

    assert _terms("How do I feed the otters?") == ["feed", "otters"]
    # Nothing but stop words: they are all there is to look for.
    assert _terms("How do I") == ["how", "do"]


def test_a_word_in_more_chunks_than_the_cap_does_not_crowd_out_a_rare_one(
    dataset, upload, refill_now, owner, settings
):
    files = {f"{n:02}.txt": f"ibis number {n}" for n in range(30)}
    upload(dataset, {**files, "zz.txt": "A flamingo stands on one leg."})
    refill_now(dataset)
    settings.AIPORTAL_DATASET_SEARCH_CANDIDATES = 10
    # No chunk has both words. "ibis" is in 30 chunks, more than the 10 a pass ranks: they
    # would fill the candidates in table order and leave the flamingo out.
    keys = [hit.key for hit in _search(owner, [dataset.pk], "ibis flamingo", limit=5)]
    assert keys == ["upload:zz.txt"]
    # A word in fewer chunks than the cap is still ranked with the others.
    settings.AIPORTAL_DATASET_SEARCH_CANDIDATES = 50
    keys = [hit.key for hit in _search(owner, [dataset.pk], "ibis flamingo", limit=50)]
    assert "upload:zz.txt" in keys and len(keys) == 31


def test_the_any_word_pass_ranks_every_match_of_its_rare_words_not_the_first_ones_found(
    dataset, upload, refill_now, owner, settings
):
    ibises = {f"a{n}.txt": f"An ibis, number {n}, walks." for n in range(8)}
    flamingos = {f"b{n}.txt": f"A flamingo, number {n}, stands." for n in range(8)}
    upload(dataset, {**ibises, **flamingos, "zz.txt": "Flamingo flamingo flamingo."})
    refill_now(dataset)
    # Each word is in at most 9 chunks, fewer than the cap, so both are informative; the two
    # together match 17 chunks, more than the cap. Were the pass bounded by the cap, it
    # would rank the first 10 found (table order) and miss the best match, stored last.
    settings.AIPORTAL_DATASET_SEARCH_CANDIDATES = 10
    keys = [hit.key for hit in _search(owner, [dataset.pk], "ibis flamingo", limit=17)]
    assert keys[0] == "upload:zz.txt"
    assert len(keys) == 17


def test_hybrid_weighs_the_full_text_list_by_its_setting(
    dataset, upload, refill_now, owner, settings, monkeypatch
):
    """chunk_search fuses with AIPORTAL_DATASET_RRF_K and AIPORTAL_DATASET_FULLTEXT_WEIGHT.
    The vector list is given (the query's embedding is the gateway's, not this test's): one
    chunk full-text does not find first, then one both find."""
    from datasets.models import Chunk, Version
    from datasets.selectors import search

    upload(
        dataset, {"a.txt": "Ibis, ibis, ibis.", "b.txt": "An ibis and a heron.", "c.txt": "Birds."}
    )
    refill_now(dataset)
    dataset.refresh_from_db()
    Version.objects.filter(pk=dataset.active_version_id).update(embedding_model="test-model")
    settings.AIPORTAL_EMBEDDING_MODEL = "test-model"
    chunk = {
        key: Chunk.objects.get(document__entries__key=f"upload:{key}.txt").pk
        for key in ("a", "b", "c")
    }
    monkeypatch.setattr(search, "vector_search_available", lambda: True)
    monkeypatch.setattr(
        search, "_vector_lists", lambda *args: [(chunk["c"], 0.9), (chunk["b"], 0.8)]
    )

    def order(weight: float, k: int = 1) -> list[str]:
        settings.AIPORTAL_DATASET_RRF_K = k
        settings.AIPORTAL_DATASET_FULLTEXT_WEIGHT = weight
        hits = chunk_search(user=owner, query="ibis", dataset_ids=[dataset.pk], method="hybrid")
        assert {hit.method for hit in hits} == {"hybrid"}
        return [hit.key.removeprefix("upload:").removesuffix(".txt") for hit in hits]

    # Full-text ranks a (three ibises) before b. Scores are weight / (k + rank) summed.
    assert order(1.0)[0] == "b"  # in both lists: 1/3 + 1/3 against 1/2 each
    assert order(10.0) == ["a", "b", "c"]  # 10/2 against 10/3 + 1/3
    assert order(10.0, k=60)[0] == "b"  # a larger k flattens the ranks: 11/62 > 10/61
    assert order(0.0) == ["c", "b", "a"]  # the vector list's order, full-text's only after
