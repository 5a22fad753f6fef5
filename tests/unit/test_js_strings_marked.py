"""Every text a person reads that our scripts make goes through gettext or ngettext
(static/common/i18n.js), so that makemessages finds it and the French page says it in
French. The scripts are tokenized (tests/unit/js_tokens.py) and every string literal, and
every static part of a template literal, outside a gettext/ngettext call is judged: text
that reads like words to a person fails the test, unless the allow-list below says why not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.js_tokens import Token, tokenize

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    path
    for path in (ROOT / "static").rglob("*.js")
    if "vendor" not in path.relative_to(ROOT / "static").parts
)
MARKERS = {"gettext", "ngettext"}
# Strings given to these are names for the machine, never shown: CSS selectors, event and
# storage names, element and attribute names, media queries, addresses.
MACHINE_CALLS = {
    "querySelector", "querySelectorAll", "closest", "matches", "getElementById",
    "addEventListener", "removeEventListener", "dispatchEvent", "Event", "CustomEvent",
    "createElement", "createTreeWalker", "getAttribute", "hasAttribute", "removeAttribute",
    "toggleAttribute", "getItem", "setItem", "removeItem", "matchMedia", "fetch", "WebSocket",
    "close", "getLanguage", "attrGet", "addHook",
}  # fmt: skip
# Where a string becomes what a person reads, even one lowercase word ("down").
TEXT_PROPERTIES = {"textContent", "innerText", "title", "placeholder", "label"}
TEXT_ATTRIBUTES = {"aria-label", "title", "placeholder", "alt"}
# Functions whose arguments are said or shown as they are.
TEXT_CALLS = {"say", "showError", "alert", "confirm", "Error"}
COMPARISONS = {"===", "!==", "==", "!="}

WORDS = re.compile(r"[^\W\d_]{2,}[.,:;!?…]*\s+[^\W\d_]{2,}")  # "Copy code", "Signed out: x"
CAPITALISED_WORD = re.compile(r"[A-Z][a-z]+[.…:!?]?")  # "Copied", "Today", "Saved."
# Not text for a person, each with its reason.
ALLOWED = {
    "Escape": "a KeyboardEvent.key value",
    "Enter": "a KeyboardEvent.key value",
    "Home": "a KeyboardEvent.key value",
    "End": "a KeyboardEvent.key value",
    "Delete": "a KeyboardEvent.key value",
    "Accept": "an HTTP header name",
    "Files": "a DataTransfer type (a drop that carries files)",
    "HTTP ": "the protocol's name before a status code (HTTP 502)",
    "IntersectionObserver": "a feature test for a global's name",
    "noopener noreferrer nofollow": "rel keywords on links in model output",
    "up quiet": "CSS classes of a pool row",
    "num pool-hits": "CSS classes of a pool cell",
    "num pool-capacity": "CSS classes of a pool cell",
    "not all": "a media query (the unused highlighting theme)",
    "loading messages failed (": "an internal error, caught and replaced by a translated one",
    " · aiportal": "the product's name in the window title",
    '<pre><code class="hljs">': "markup the markdown renderer builds",
    '<div class="math-display">': "markup the markdown renderer builds",
    '<code class="math-error">': "markup the markdown renderer builds",
}


def unmarked_texts(tokens: list[Token]) -> list[Token]:
    found = []
    calls: list[str] = []  # the callee of each open parenthesis ("" for a plain group)
    for i, token in enumerate(tokens):
        if token.kind == "punct" and token.value == "(":
            back = i - 2 if i >= 2 and tokens[i - 1].value == "?." else i - 1  # closest?.(
            before = tokens[back] if back >= 0 else None
            calls.append(before.value if before and before.kind == "name" else "")
            continue
        if token.kind == "punct" and token.value == ")":
            if calls:
                calls.pop()
            continue
        if token.kind not in {"string", "template"} or not re.search(r"[^\W\d_]", token.value):
            continue
        if any(call in MARKERS for call in calls) or token.value in ALLOWED:
            continue
        if calls and calls[-1] in MACHINE_CALLS:
            continue
        neighbours = {t.value for t in tokens[max(0, i - 1) : i + 2] if t.kind == "punct"}
        if neighbours & COMPARISONS:
            continue  # compared with a state or a code: "user", "streaming"
        if (
            WORDS.search(token.value)
            or CAPITALISED_WORD.fullmatch(token.value)
            or shown_directly(tokens, i, calls)
        ):
            found.append(token)
    return found


def shown_directly(tokens: list[Token], i: int, calls: list[str]) -> bool:
    """The string is the value given to a text property or attribute: ``x.title = "…"``,
    ``x.textContent = cond ? "…" : "…"``, ``setAttribute("aria-label", "…")``."""
    if calls and calls[-1] in TEXT_CALLS:
        return True
    if calls and calls[-1] == "setAttribute":
        first = tokens[i - 2] if i >= 2 else None
        return tokens[i - 1].value == "," and first is not None and first.value in TEXT_ATTRIBUTES
    j = i - 1
    while j > 0 and tokens[j].value not in {";", "{", "}", "(", ",", "="}:
        j -= 1
    return (
        tokens[j].value == "="
        and tokens[j - 1].kind == "name"
        and tokens[j - 1].value in TEXT_PROPERTIES
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_text_a_script_shows_is_marked_for_translation(script):
    found = unmarked_texts(tokenize(script.read_text(encoding="utf-8")))
    assert not found, "not in gettext()/ngettext(): " + "; ".join(
        f"line {t.line}: {t.value!r}" for t in found
    )


@pytest.mark.parametrize(
    "source",
    [
        'el.textContent = "Copy code";',
        'button.title = "Copied";',
        'cell(tr, w.healthy ? "fine" : "broken words");',
        'el.textContent = ok ? "fine" : "down";',
        'el.setAttribute("aria-label", "versions");',
        "say(`${count} found.`);",
        'say(gettext("Saved") + " and more text");',
        'throw new Error("Saving failed.");',
    ],
)
def test_it_catches_unmarked_text(source):
    assert unmarked_texts(tokenize(source)), source


@pytest.mark.parametrize(
    "source",
    [
        'el.textContent = gettext("Copy code");',
        'x = ngettext("%(count)s found.", "%(count)s found.", n);',
        'say(interpolate(gettext("Waiting %(s)s s " + "so far."), { s }));',
        'list.querySelector("#messages .message.assistant .content");',
        'if (event.key === "Escape") close();',
        'label.textContent = role === "user" ? gettext("You said:") : gettext("Answer:");',
        'const re = /^Too big: /; x = "a" / 2;',
        "el.className = `message ${role}`;",
        '// a comment with "Some words" in it\n/* and "more words" */',
    ],
)
def test_it_passes_marked_text_and_names(source):
    assert not unmarked_texts(tokenize(source)), source
