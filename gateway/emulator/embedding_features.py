"""The features the emulator's embeddings hash (gateway/emulator/embeddings.py).

A text becomes its words and their character n-grams, each with a weight: words are
lower-cased runs of letters and digits, English stop words are dropped (a question's "how do
I" says nothing about its subject), and a light suffix stemmer makes "configure",
"configured" and "configuration" one word. The n-grams (3 to 5 characters of each word with
its boundaries marked, ``<db`` ``ase>``) make words that share a root close even where the
stemmer misses it, and typos close to their word. Weights are 1 + log(count) (a word said
ten times is not ten times the topic), the n-grams of a word together weighing about as
much as the word.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from common.stop_words import ENGLISH_STOP_WORDS

_WORD = re.compile(r"[^\W_]+")
_NGRAMS = (3, 4, 5)
# The word's n-grams share this much weight with the word: a text's subject is its words
# first, their spelling second.
_NGRAM_SHARE = 1.0

STOP_WORDS = ENGLISH_STOP_WORDS
# Longest first: the first that leaves a stem of at least _MIN_STEM letters is removed.
_SUFFIXES = (
    "izations", "ization", "ations", "ation", "ments", "ment", "ings", "ing", "ies", "ures",
    "ure", "ed", "es", "ly", "s", "e",
)  # fmt: skip
_MIN_STEM = 3


def word_stem(word: str) -> str:
    """A crude stem: enough that a word's usual forms meet, not a linguist's root."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    return word


def text_words(text: str) -> list[str]:
    """The text's stems, stop words dropped; a text of stop words alone keeps them, so that
    it is still about something."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in STOP_WORDS] or words
    return [word_stem(w) for w in kept]


def text_features(text: str) -> dict[str, float]:
    """Each feature of the text with its weight: ``w:`` + a stem, ``g:`` + an n-gram."""
    stems = Counter(text_words(text))
    features: dict[str, float] = {}
    for stem, count in stems.items():
        weight = 1.0 + math.log(count)
        features["w:" + stem] = weight
        marked = f"<{stem}>"
        grams = [marked[i : i + n] for n in _NGRAMS for i in range(len(marked) - n + 1)]
        if not grams:
            continue
        share = weight * _NGRAM_SHARE / math.sqrt(len(grams))
        for gram in grams:
            key = "g:" + gram
            features[key] = features.get(key, 0.0) + share
    return features
