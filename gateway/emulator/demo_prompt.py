"""Reading a prompt the way the demo answer needs it: what was asked, about what, with which
sources, and whether the caller wants a title, code, maths or a comparison.

Pure functions of the prompt text. The prompt is what the model reads (the emulator's
ChatML rendering, see ``tokens.render_chat``), so a chat request and a text completion that
continues the same rendered chat read the same; a completion prompt that is no rendered chat
reads as one user message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property

# <|im_start|>role\ncontent<|im_end|>\n, as tokens.render_chat writes each message.
_MESSAGE = re.compile(r"<\|im_start\|>([^\n<]*)\n(.*?)<\|im_end\|>\n", re.DOTALL)

# The chat's retrieval (chat/services/retrieval.py) puts passages in a system message as
# <passage number="1" title="…">text</passage>, for the answer to cite as [1].
_PASSAGE = re.compile(r'<passage number="(\d+)" title="([^"]*)">\n?(.*?)\n?</passage>', re.DOTALL)

_WORD = re.compile(
    r"[A-Za-z][A-Za-z0-9+#'\u2019.\-]*[A-Za-z0-9+#]|[A-Za-z]|\d+(?:\.\d+)?|[^\sA-Za-z0-9]"
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    """a an the is are was were be been being am do does did doing done what which who whom
    whose why how when where can could would should will shall may might must i i'm me my
    mine you your yours we our us it it's its they them their this that these those and or
    but if then so than as to of in on at for with about from by into onto over under up
    down out off please tell explain describe give show write make let know want need like
    some any all every each more most much many very really just also there here hello hi
    hey thanks thank help get got have has had not no yes between difference differences
    compare comparison versus vs everything something anything briefly detail details
    detailed way ways work works okay ok sure quick quickly simple simply good best better
    use using used example examples i'd i'll you're what's there's let's one two thing
    things lot bit kind sort type types whether such other another same own only even still
    again ever"""
)
# Small words that may join two content words inside one phrase ("winters on Mars").
CONNECTORS = frozenset({"of", "on", "in", "for", "to", "with", "at", "from"})
ARTICLES = frozenset({"the", "a", "an"})
# Words of a request for a title, which are not its subject.
TITLE_WORDS = _words(
    """title titles conversation chat short reply words word six five four heading name"""
)
MAX_PHRASE_WORDS = 6
MAX_PHRASES = 6

# Programming languages a prompt may name, and the fence label the answer's code gets.
LANGUAGES = {
    "python": "python", "py": "python", "django": "python", "pandas": "python",
    "javascript": "javascript", "js": "javascript", "node": "javascript", "node.js": "javascript",
    "react": "javascript", "typescript": "typescript", "ts": "typescript",
    "rust": "rust", "go": "go", "golang": "go", "sql": "sql", "postgresql": "sql",
    "postgres": "sql", "sqlite": "sql", "mysql": "sql", "query": "sql",
    "bash": "bash", "shell": "bash", "sh": "bash", "zsh": "bash", "terminal": "bash",
}  # fmt: skip
CODE_WORDS = _words(
    """code coding program programming function functions script scripts snippet implement
    implementation algorithm algorithms regex class method library api bug debug compile
    loop refactor"""
)
MATHS_WORDS = _words(
    """math maths mathematics formula formulas equation equations derivative derivatives
    integral integrals calculus probability variance mean median statistics statistical
    theorem proof prove matrix matrices vector vectors algebra geometry series limit limits
    solve quadratic exponent exponential logarithm log sum sums pythagoras pythagorean
    trigonometry sine cosine differential"""
)
COMPARE_WORDS = _words("""vs vs. versus compare comparison difference differences""")


@dataclass(frozen=True)
class Passage:
    number: int
    title: str
    text: str


@dataclass(frozen=True)
class Reading:
    """What the demo answer reads from a prompt."""

    question: str  # the last user message
    phrases: list[str] = field(default_factory=list)  # its key phrases, in order
    passages: list[Passage] = field(default_factory=list)
    wants_title: bool = False
    title_phrases: list[str] = field(default_factory=list)  # what a title is about
    title_source: str = ""  # the user message a title is about (its words, when no phrase)
    language: str | None = None  # a fence label when the prompt asks for code
    maths: bool = False
    compare: bool = False
    tool_result: str | None = None  # the content of a final tool message

    @cached_property
    def topic(self) -> str:
        if self.compare and len(self.phrases) >= 2:
            return f"{self.phrases[0]} vs {self.phrases[1]}"
        return topic_of(self.phrases)


def messages_of(prompt: str) -> list[tuple[str, str]]:
    """(role, content) pairs of a rendered chat; a plain prompt is one user message."""
    found = [(m.group(1), m.group(2)) for m in _MESSAGE.finditer(prompt)]
    return found or [("user", prompt)]


def words_of(text: str) -> list[str]:
    return _WORD.findall(text)


def key_phrases(text: str, *, drop: frozenset[str] = frozenset()) -> list[str]:
    """Runs of content words, joined across one small connector ("weather on Mars"), in the
    order they appear, each at most ``MAX_PHRASE_WORDS`` words, without repeats."""
    phrases: list[str] = []
    current: list[str] = []
    pending: list[str] = []  # a connector (and article) that may join the next content word

    def flush() -> None:
        if current:
            words = current[:MAX_PHRASE_WORDS]
            while words[-1].lower() in CONNECTORS | ARTICLES:
                words.pop()  # cut inside "… for the next": end on a content word
            phrase = " ".join(words)
            if phrase.lower() not in (p.lower() for p in phrases):
                phrases.append(phrase)
        current.clear()
        pending.clear()

    for word in words_of(text):
        lower = word.lower().strip(".'\u2019")
        if not re.match(r"[A-Za-z0-9]", word):
            flush()  # punctuation ends a phrase
        elif (current and not pending and lower in CONNECTORS) or (
            current and pending and len(pending) == 1 and lower in ARTICLES
        ):
            pending.append(word)
        elif lower in STOPWORDS or lower in drop or (len(lower) < 2 and not lower.isdigit()):
            flush()
        else:
            current.extend(pending)
            pending.clear()
            current.append(word.rstrip("."))
    flush()
    return phrases[:MAX_PHRASES]


def topic_of(phrases: list[str]) -> str:
    """The question's main subject: its first phrase of two words or more, else its first,
    passing over phrases only about code ("Python function") when there are others."""
    subjects = [p for p in phrases if not _only_code(p)] or phrases
    for phrase in subjects[:3]:
        if " " in phrase:
            return phrase
    return subjects[0] if subjects else "your question"


def _only_code(phrase: str) -> bool:
    return all(w.lower() in LANGUAGES or w.lower() in CODE_WORDS for w in phrase.split())


def _wants_title(system: str, last_user: str) -> bool:
    asking = re.compile(
        r"\b(short|brief|concise|write|give|generate|suggest|create|make|propose)\b[^.?!\n]*"
        r"\btitle\b|\btitle (of|for) (this|the) (conversation|chat)\b",
        re.IGNORECASE,
    )
    return bool(asking.search(system) or asking.search(last_user))


# Names that are also ordinary words, or products one may compare without wanting code.
AMBIGUOUS = frozenset(
    {"go", "query", "node", "ts", "sh", "py", "js", "postgresql", "postgres", "mysql", "sqlite",
     "django", "pandas", "react", "terminal", "shell"}
)  # fmt: skip
OTHER_LANGUAGES = frozenset({"c++", "java", "c#", "ruby", "kotlin", "swift", "php", "c"})


def _language(words: list[str]) -> str | None:
    """The fence label for the code a prompt asks for, or None when it asks for none. Short
    or common names ("go", "query") count only next to a word about code."""
    lowered = [w.lower() for w in words]
    coding = any(w in CODE_WORDS for w in lowered)
    for word in lowered:
        if word in LANGUAGES and (coding or word not in AMBIGUOUS):
            return LANGUAGES[word]
    if any(w in OTHER_LANGUAGES and w != "c" for w in lowered):
        return "text"  # a language the demo has no template for: pseudocode
    return "python" if coding else None


def read_prompt(prompt: str) -> Reading:
    messages = messages_of(prompt)
    users = [content for role, content in messages if role == "user"]
    system = "\n".join(content for role, content in messages if role == "system")
    last_user = users[-1] if users else ""
    passages = [
        Passage(int(n), " ".join(title.split()), " ".join(text.split()))
        for n, title, text in _PASSAGE.findall(system + "\n" + last_user)
    ]
    # The passages and their instructions are not the question.
    question = _PASSAGE.sub("", last_user)
    words = words_of(question)
    lowered = {w.lower() for w in words}
    wants_title = _wants_title(system, last_user)
    title_phrases: list[str] = []
    title_source = question
    if wants_title:
        title_phrases = key_phrases(question, drop=TITLE_WORDS)
        if not title_phrases and users:
            # "The title of this conversation:" after the exchange: the title is about the
            # conversation's first question.
            title_source = _PASSAGE.sub("", users[0])
            title_phrases = key_phrases(title_source, drop=TITLE_WORDS)
    tool_result = messages[-1][1] if messages and messages[-1][0] == "tool" else None
    return Reading(
        question=question.strip(),
        phrases=key_phrases(question),
        passages=passages,
        wants_title=wants_title,
        title_phrases=title_phrases,
        title_source=" ".join(title_source.split()),
        language=_language(words),
        maths=bool(lowered & MATHS_WORDS) or "$" in question or "\\frac" in question,
        compare=bool(lowered & COMPARE_WORDS) or "pros and cons" in question.lower(),
        tool_result=tool_result,
    )


def tool_result_fields(content: str) -> list[tuple[str, str]] | str:
    """A tool's result as (key, value) rows when it is a JSON object, else its text."""
    try:
        value = json.loads(content)
    except ValueError:
        return " ".join(content.split())
    if isinstance(value, dict):
        return [
            (str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
            for k, v in value.items()
        ]
    if isinstance(value, list):
        return [(str(i + 1), json.dumps(v, ensure_ascii=False)) for i, v in enumerate(value)]
    return json.dumps(value, ensure_ascii=False)
