"""The emulator's answers: a demo text that responds to the prompt, not lorem ipsum.

The answer restates the question's key phrases (``demo_prompt``) and organises them in one of
several shapes, with real markdown so the chat's rendering is exercised: headings, lists, a
comparison table, a fenced code block when the prompt is about code, inline and display LaTeX
when it is about maths, ``[n]`` citations when the prompt carries numbered passages, a short
title when it asks for one, and a summary of a tool's result after a tool call. It always
ends with a line saying it is a demo (titles excepted).

The text is a pure function of the prompt, the seed, a *variant* and the target length, never
of the worker (port, region, load): a stream that dies on one worker is continued on another
from the partial text, and both must agree on the whole answer. Without a seed the caller
picks the variant at random (so a regenerated answer differs); each variant starts with its
own first word, so a continuation finds the variant its partial text came from
(``variant_of``).
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Callable, Iterator

from .demo_prompt import (
    CODE_WORDS,
    CONNECTORS,
    LANGUAGES,
    Reading,
    read_prompt,
    tool_result_fields,
)
from .tokens import tokenize

# Each opening starts with a word no other one starts with: the first token of an answer
# names its variant. ``{topic}`` is the question's subject, ``{more}`` its other phrases.
OPENINGS = (
    "Sure: here is an overview of {topic}{more}.",
    "Good question. Let me organise what you asked about {topic}{more}.",
    "Here is a structured answer on {topic}{more}.",
    "Short version first, then the details on {topic}{more}.",
    "Happy to walk through {topic}{more}.",
    "Let's break {topic} down into its parts{more}.",
    "Okay: {topic}, step by step{more}.",
    "Glad you asked about {topic}{more}.",
    "Right, {topic}: a summary you can skim{more}.",
    "Absolutely. Below is a breakdown of {topic}{more}.",
    "Certainly. This answer covers {topic}{more}.",
    "Alright, here is what matters about {topic}{more}.",
)
VARIANTS = len(OPENINGS)
EXCERPT_CHARS = 160
# Sentences tried in a row that do not fit before the prose stops.
MAX_MISSES = 6

NOTE = "*A demo answer from the **aiportal vLLM emulator**: no language model read your message.*"

_INTROS = (
    "{Topic} is easiest to understand by separating what it is from what it is for. Your "
    "question asks about both, so the answer below takes them in that order.",
    "At its core, {topic} is about a small number of ideas that fit together. Once those "
    "are clear, the details follow naturally.",
    "When people ask about {topic}, they usually want three things: a definition, the reason "
    "it matters, and how to use it. Here they are.",
    "{Topic} comes up often, and most confusion about it disappears once the moving parts "
    "are named. That is what this answer does first.",
)
_POINT_HEADINGS = ("Key points", "What to know", "The main ideas", "In brief")
_POINTS = (
    "what it is, and where it shows up in your question",
    "the part most explanations skip, worth defining before going further",
    "how it connects to {topic}",
    "the detail that usually decides how things turn out",
    "a good place to start if you want to go deeper",
    "the piece that is easiest to get wrong",
)
_STEPS = (
    "Start from a precise statement of what you want to know about {topic}.",
    "List what you already know, and what you would need to measure.",
    "Try the simplest case first, then add one complication at a time.",
    "Check the result against an example you can verify by hand.",
    "Write down what you learned, so the next question starts further ahead.",
)
_STEP_HEADINGS = ("In practice", "How to approach it", "Step by step", "A way to work through it")
_FILLER_HEADINGS = (
    "More on {phrase}",
    "Why {phrase} matters",
    "A closer look at {phrase}",
    "{Phrase} in context",
    "Common questions about {phrase}",
)
_FILLERS = (
    "A useful way to think about {phrase} is in terms of what changes and what stays the same.",
    "Most of the difficulty with {phrase} comes from its edge cases, not its main idea.",
    "It helps to look at {phrase} from the point of view of whoever depends on it.",
    "Small examples make {phrase} concrete far faster than definitions do.",
    "There is rarely a single right answer about {phrase}; there are trade-offs.",
    "The history of {phrase} explains a good part of why it looks the way it does today.",
    "Measuring before changing anything is the safest approach to {phrase}.",
    "If something about {phrase} seems surprising, the assumptions are the first thing to check.",
    "Experts and beginners disagree about {phrase} less than it first seems.",
    "The same ideas behind {phrase} show up in many neighbouring fields.",
    "A checklist is often enough to avoid the usual mistakes with {phrase}.",
    "Whatever you decide about {phrase}, writing down why will help later.",
)
_TABLE_ROWS = (
    ("Focus", "what {a} is for", "what {b} is for"),
    ("Strengths", "simple to reason about", "flexible in practice"),
    ("Trade-offs", "less flexible when needs change", "more to learn up front"),
    ("Best when", "the problem is well understood", "requirements are still moving"),
    ("Cost", "lower to start", "lower at scale"),
)
_NOTE_ROWS = (
    ("Definition", "what {topic} is, in one sentence"),
    ("Why it matters", "the problem {topic} solves"),
    ("Common pitfall", "treating every case of {topic} the same"),
    ("Where to start", "one small, checkable example"),
    ("Going further", "the edge cases, once the basics hold"),
)
# Display formulas by the maths a prompt mentions, each with an inline companion.
_FORMULAS = (
    (
        ("derivative", "derivatives", "calculus", "differential", "limit", "limits"),
        r"f'(x) = \lim_{h \to 0} \frac{f(x+h) - f(x)}{h}",
        r"\frac{d}{dx}\, x^n = n\, x^{n-1}",
    ),
    (("integral", "integrals"), r"F'(x) = f(x)", r"\int_a^b f(x)\,dx = F(b) - F(a)"),
    (
        ("probability", "variance", "mean", "median", "statistics", "statistical"),
        r"\mu = \frac{1}{n}\sum_{i=1}^{n} x_i",
        r"\sigma^2 = \frac{1}{n}\sum_{i=1}^{n} \left(x_i - \mu\right)^2",
    ),
    (
        ("quadratic", "solve", "equation", "equations", "algebra"),
        r"ax^2 + bx + c = 0",
        r"x = \frac{-b \pm \sqrt{b^2 - 4ac}}{2a}",
    ),
    (
        ("matrix", "matrices", "vector", "vectors"),
        r"\det(A) \neq 0",
        r"A\mathbf{x} = \mathbf{b} \quad\Longrightarrow\quad \mathbf{x} = A^{-1}\mathbf{b}",
    ),
    (("series", "sum", "sums"), r"S_n", r"\sum_{k=1}^{n} k = \frac{n(n+1)}{2}"),
    (
        ("pythagoras", "pythagorean", "geometry", "trigonometry", "sine", "cosine"),
        r"a^2 + b^2 = c^2",
        r"\sin^2\theta + \cos^2\theta = 1",
    ),
)
_DEFAULT_FORMULA = (r"a^2 + b^2 = c^2", r"e^{i\pi} + 1 = 0")


def answer_seed(*, seed: int | None, prompt: str, variant: int = 0) -> int:
    """The RNG seed for an answer: the request's seed mixed with the prompt, or, without a
    seed, the variant mixed with the prompt."""
    material = f"{'' if seed is None else seed}\x00{variant}\x00{prompt}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def excerpt_of(question: str) -> str:
    """A bounded, single-line excerpt of the question for the blockquote."""
    flat = " ".join(question.split())
    if len(flat) <= EXCERPT_CHARS:
        return flat
    return flat[: EXCERPT_CHARS - 1].rstrip() + "…"


def variant_of(text: str) -> int | None:
    """The variant whose answers start like ``text`` (a partial answer), when it says."""
    for variant, opening in enumerate(OPENINGS):
        first = opening.split()[0]
        if text.startswith(first) or first.startswith(text):
            return variant
    return None


# --- pieces of an answer -------------------------------------------------------------------


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def title_case(phrase: str) -> str:
    small = {"of", "on", "in", "for", "to", "with", "at", "from", "and", "the", "a", "an"}
    words = phrase.split()
    out = []
    for i, word in enumerate(words):
        keep = word != word.lower() or (i and word in small)
        out.append(word if keep else _cap(word))
    return " ".join(out)


def compose_title(reading: Reading, rng: random.Random) -> str:
    """A few words, no trailing punctuation, no markdown: what a chat shows in its sidebar.
    A question with no phrase to build on ("Hello!", "what is 2+2") is its own title: the
    words of the request for a title ("title", "conversation") never are."""
    phrases = reading.title_phrases
    topic = title_case(" ".join(_title_topic(phrases).split()[:5])) if phrases else ""
    if len(topic) < 3:
        return _title_from_words(reading.title_source) or "A Quick Question"
    forms = ["{t}", "{t}", "{t} Explained", "Understanding {t}", "{t} at a Glance"]
    if len(phrases) > 1 and len(topic.split()) + len(phrases[1].split()) <= 5:
        forms.append("{t} and " + title_case(phrases[1]))
    title = rng.choice(forms).format(t=topic)
    words = title.split()
    return " ".join(words[:6]).rstrip(".,;:!?")


def _title_from_words(text: str) -> str:
    """The first few words of a message, as a title: markdown and end punctuation off."""
    words = re.sub(r"[*_`#>\[\]]+", "", text).split()[:6]
    return _cap(" ".join(words).rstrip(".,;:!?"))


def _title_topic(phrases: list[str]) -> str:
    for phrase in phrases[:3]:
        if " " in phrase:
            return phrase
    return phrases[0]


def _opening(reading: Reading, index: int, rng: random.Random) -> str:
    others = [p for p in reading.phrases if p not in reading.topic][:2]
    more = ""
    if others:
        more = ", including " + " and ".join(f"*{p}*" for p in others)
    if reading.passages:
        more += ", drawing on the passages you supplied"
    return OPENINGS[index].format(topic=f"**{reading.topic}**", more=more)


def _fill(template: str, **values: str) -> str:
    capitals = {k[:1].upper() + k[1:]: _cap(v) for k, v in values.items()}
    return template.format(**values, **capitals)


def _overview(reading: Reading, rng: random.Random) -> str:
    topic = reading.topic
    intro = _fill(rng.choice(_INTROS), topic=topic)
    if reading.passages:
        numbers = [p.number for p in reading.passages[:2]]
        intro += (
            " The passages you supplied speak to it directly "
            + "".join(f"[{n}]" for n in numbers)
            + "."
        )
    return f"## {_cap(topic)}\n\n{intro}"


_ASPECTS = ("What it is", "Why it matters", "Where it goes wrong")


def _key_points(reading: Reading, rng: random.Random) -> str:
    phrases = reading.phrases[:4] or [reading.topic]
    phrases += list(_ASPECTS[: max(0, 3 - len(phrases))])
    points = rng.sample(_POINTS, len(phrases))
    lines = [f"- **{_cap(p)}**: {_fill(point, topic=reading.topic)}" for p, point in
             zip(phrases, points, strict=True)]  # fmt: skip
    return f"### {rng.choice(_POINT_HEADINGS)}\n\n" + "\n".join(lines)


def _steps(reading: Reading, rng: random.Random) -> str:
    count = rng.choice((3, 4, 5))
    lines = [f"{i}. {_fill(step, topic=reading.topic)}" for i, step in
             enumerate(_STEPS[:count], start=1)]  # fmt: skip
    return f"### {rng.choice(_STEP_HEADINGS)}\n\n" + "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(reading: Reading, rng: random.Random) -> str:
    rows = rng.sample(range(len(_TABLE_ROWS)), 4)
    if (reading.compare and len(reading.phrases) >= 2) or len(reading.phrases) >= 3:
        a, b = reading.phrases[0], reading.phrases[1]
        lines = [f"| Aspect | {_cell(_cap(a))} | {_cell(_cap(b))} |", "| --- | --- | --- |"]
        for i in sorted(rows):
            name, left, right = _TABLE_ROWS[i]
            lines.append(f"| {name} | {_cell(_fill(left, a=a, b=b))} | "
                         f"{_cell(_fill(right, a=a, b=b))} |")  # fmt: skip
        heading = f"### {_cap(a)} compared with {b}"
    else:
        lines = ["| Aspect | Notes |", "| --- | --- |"]
        for i in sorted(rows):
            name, note = _NOTE_ROWS[i]
            lines.append(f"| {name} | {_cell(_fill(note, topic=reading.topic))} |")
        heading = f"### {_cap(reading.topic)} at a glance"
    return heading + "\n\n" + "\n".join(lines)


_LABELS = {
    "python": "Python", "javascript": "JavaScript", "typescript": "TypeScript", "rust": "Rust",
    "go": "Go", "sql": "SQL", "bash": "Bash", "text": "pseudocode",
}  # fmt: skip


def _identifier(topic: str) -> str:
    """A snake_case name from the topic without its words about code ("parse_csv")."""
    noise = set(LANGUAGES) | CODE_WORDS | CONNECTORS | {"write", "small", "simple"}
    words = [w for w in re.findall(r"[a-z0-9]+", topic.lower()) if w not in noise][:3]
    name = "_".join(words) or "example"
    return name if not name[0].isdigit() else "n_" + name


def _code(reading: Reading, rng: random.Random) -> str:
    name = _identifier(" ".join(reading.phrases) or reading.topic)
    camel = name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:])
    about = reading.topic.replace('"', "'").replace("*/", "")
    language = reading.language or "python"
    templates = {
        "python": (
            f"def {name}(items: list[str]) -> dict[str, int]:\n"
            f'    """A first step with {about}: count how often each item appears."""\n'
            "    counts: dict[str, int] = {}\n"
            "    for item in items:\n"
            "        counts[item] = counts.get(item, 0) + 1\n"
            "    return counts"
        ),
        "javascript": (
            f"// Count how often each item appears: a first step with {about}.\n"
            f"function {camel}(items) {{\n"
            "  const counts = new Map();\n"
            "  for (const item of items) {\n"
            "    counts.set(item, (counts.get(item) ?? 0) + 1);\n"
            "  }\n"
            "  return counts;\n"
            "}\n\n"
            f'console.log({camel}(["a", "b", "a"]));'
        ),
        "typescript": (
            f"// Count how often each item appears: a first step with {about}.\n"
            f"function {camel}(items: string[]): "
            "Map<string, number> {\n"
            "  const counts = new Map<string, number>();\n"
            "  for (const item of items) {\n"
            "    counts.set(item, (counts.get(item) ?? 0) + 1);\n"
            "  }\n"
            "  return counts;\n"
            "}"
        ),
        "rust": (
            "use std::collections::HashMap;\n\n"
            f"/// Count how often each item appears: a first step with {about}.\n"
            f"fn {name}(items: &[&str]) -> HashMap<String, usize> {{\n"
            "    let mut counts = HashMap::new();\n"
            "    for item in items {\n"
            "        *counts.entry(item.to_string()).or_insert(0) += 1;\n"
            "    }\n"
            "    counts\n"
            "}"
        ),
        "go": (
            f"// {camel} counts how often each item appears: "
            f"a first step with {about}.\n"
            f"func {camel}(items []string) map[string]int {{\n"
            "\tcounts := make(map[string]int)\n"
            "\tfor _, item := range items {\n"
            "\t\tcounts[item]++\n"
            "\t}\n"
            "\treturn counts\n"
            "}"
        ),
        "sql": (
            f"-- How often each item appears: a first step with {about}.\n"
            "SELECT item, count(*) AS occurrences\n"
            f"FROM {name}\n"
            "GROUP BY item\n"
            "ORDER BY occurrences DESC\n"
            "LIMIT 10;"
        ),
        "bash": (
            f"# How often each line appears: a first step with {about}.\n"
            f"sort {name}.txt | uniq -c | sort -rn | head -n 10"
        ),
        "text": (
            f"{name}(items):\n"
            "    counts = empty map\n"
            "    for each item in items:\n"
            "        counts[item] = counts[item] + 1\n"
            "    return counts"
        ),
    }
    body = templates.get(language, templates["python"])
    label = _LABELS.get(language, language)
    lead = rng.choice(
        (
            f"A minimal example in {label}:",
            f"Here is a small {label} sketch to start from:",
            f"In {label}, the core of it fits in a few lines:",
        )
    )
    return f"### Example\n\n{lead}\n\n```{language}\n{body}\n```"


def _maths(reading: Reading, rng: random.Random) -> str:
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", reading.question)}
    inline, display = _DEFAULT_FORMULA
    for keys, formula_inline, formula_display in _FORMULAS:
        if words & set(keys):
            inline, display = formula_inline, formula_display
            break
    lead = rng.choice(
        (
            f"The relation at the heart of it, with ${inline}$ as the starting point:",
            f"Written as a formula (the inline form is ${inline}$):",
            f"Formally, and starting from ${inline}$:",
        )
    )
    tail = rng.choice(
        (
            "Each symbol stands for one of the quantities named above; substitute small "
            "numbers to check it by hand.",
            "Reading it left to right gives the same steps as the list above.",
        )
    )
    return f"### The formula\n\n{lead}\n\n$$\n{display}\n$$\n\n{tail}"


def _sources(reading: Reading, rng: random.Random) -> str:
    lines = []
    for passage in reading.passages[:5]:
        words = passage.text.split()
        gist = " ".join(words[:18]) + ("…" if len(words) > 18 else "")
        gist = gist.replace("*", "").replace("`", "").replace("[", "(").replace("]", ")")
        title = passage.title or f"Passage {passage.number}"
        lines.append(f"- **{title.replace('*', '')}**: “{gist}” [{passage.number}]")
    heading = rng.choice(("What the sources say", "From the passages", "According to the sources"))
    return f"### {heading}\n\n" + "\n".join(lines)


def _tool_summary(reading: Reading, rng: random.Random) -> str:
    result = tool_result_fields(reading.tool_result or "")
    if isinstance(result, str):
        gist = result if len(result) <= 300 else result[:299] + "…"
        return f"The tool returned:\n\n> {gist or '(nothing)'}"
    rows = ["| Field | Value |", "| --- | --- |"]
    rows += [f"| {_cell(k)} | {_cell(v if len(v) <= 80 else v[:79] + '…')} |"
             for k, v in result[:12]]  # fmt: skip
    first = ", ".join(f"**{k}** {v}" for k, v in result[:3] if len(v) <= 40)
    lead = f"The tool's result gives {first}." if first else "Here is the tool's result."
    return lead + "\n\n" + "\n".join(rows)


def _fillers(reading: Reading, rng: random.Random) -> Iterator[str]:
    """Sentences about the question's phrases, reshuffled each time the pool runs out."""
    phrases = reading.phrases or [reading.topic]
    pool: list[str] = []
    while True:
        if not pool:
            pool = list(_FILLERS)
            rng.shuffle(pool)
        yield _fill(pool.pop(), phrase=rng.choice(phrases))


# --- the whole answer ----------------------------------------------------------------------


def _sections(reading: Reading, rng: random.Random) -> list[tuple[str, int]]:
    """The answer's sections after its opening, in order, each with its rank when space is
    short: the overview (0), then what the prompt asked for (1: code, maths, a comparison,
    sources, a tool's result), then the rest (2). Each is added whole or not at all."""
    if reading.tool_result is not None:
        return [(_tool_summary(reading, rng), 0), (_key_points(reading, rng), 2)]
    sections = [(_overview(reading, rng), 0)]
    if reading.passages:
        sections.append((_sources(reading, rng), 1))
    shaped: list[Callable[[Reading, random.Random], str]] = []
    if reading.language:
        shaped.append(_code)
    if reading.maths:
        shaped.append(_maths)
    if reading.compare:
        shaped.append(_table)
    asked = bool(shaped)
    if not shaped:
        shaped.append(rng.choice((_table, _steps, _key_points)))
    rest: list[Callable[[Reading, random.Random], str]] = [_key_points, _steps, _table]
    rest = [f for f in rest if f not in shaped]
    rng.shuffle(rest)
    sections += [(make(reading, rng), 1 if asked else 2) for make in shaped]
    sections += [(make(reading, rng), 2) for make in rest[: rng.choice((1, 2))]]
    return sections


# A pure function, and benchmarks send the same prompts again and again: composing costs a
# few milliseconds of the emulator's CPU, which a bench's gateway shares the machine with.
@functools.lru_cache(maxsize=256)
def compose_answer(*, prompt: str, seed: int | None, target_tokens: int, variant: int = 0) -> str:
    """The whole answer for ``prompt`` (the model's input as rendered).

    Sections are added while they fit in ``target_tokens``, then prose; the answer always has
    its opening and its closing note, and is cut to exactly ``target_tokens`` only when even
    those do not fit.
    """
    reading = read_prompt(prompt)
    rng = random.Random(answer_seed(seed=seed, prompt=prompt, variant=variant))
    if reading.wants_title:
        return "".join(tokenize(compose_title(reading, rng))[:target_tokens])
    index = rng.randrange(VARIANTS) if seed is not None else variant % VARIANTS
    head = _opening(reading, index, rng)
    if reading.tool_result is not None:
        head = head.rstrip(".") + ", using the tool's result."
    if excerpt := excerpt_of(reading.question):
        # The question itself, quoted: what was asked stays in sight, and the chat's
        # renderer meets the user's own text as model output (tests/chat/test_browser.py).
        head += f"\n\n> {excerpt}"

    # Token counts add up paragraph by paragraph (each starts and ends on a non-space
    # character, so no token spans a boundary), which keeps a long answer linear to compose.
    def cost(text: str) -> int:
        return len(tokenize(text))

    used = cost(head)
    closing_cost = cost("\n\n" + NOTE)
    if used + closing_cost > target_tokens:
        return "".join(tokenize(head + "\n\n" + NOTE)[:target_tokens])
    sections = _sections(reading, rng)
    kept = [False] * len(sections)
    costs = [cost("\n\n" + section) for section, _ in sections]
    for wanted in (0, 1, 2):  # by rank, each rank in the answer's order
        for i, (_, rank) in enumerate(sections):
            extra = costs[i]
            if rank == wanted and not kept[i] and used + extra + closing_cost <= target_tokens:
                kept[i] = True
                used += extra
    paragraphs = [head, *(s for (s, _), keep in zip(sections, kept, strict=True) if keep)]

    # Then prose, under a heading every few paragraphs, sentence by sentence until full.
    fillers = _fillers(reading, rng)
    phrases = reading.phrases or [reading.topic]
    sentences: list[str] = []
    per_paragraph = rng.choice((2, 3))
    paragraphs_since_heading = 3
    misses = 0
    while misses < MAX_MISSES:
        sentence = next(fillers)
        lead = ""
        if not sentences and paragraphs_since_heading >= 3 and misses == 0:
            phrase = rng.choice(phrases)
            lead = "### " + _fill(rng.choice(_FILLER_HEADINGS), phrase=phrase) + "\n\n"
        extra = cost((" " if sentences else "\n\n") + lead + sentence)
        if used + extra + closing_cost > target_tokens:
            misses += 1  # a shorter sentence, without a heading, may still fit
            continue
        misses = 0
        if lead:
            paragraphs_since_heading = 0
        sentences.append(lead + sentence)
        used += extra
        if len(sentences) >= per_paragraph:
            paragraphs.append(" ".join(sentences))
            paragraphs_since_heading += 1
            sentences = []
            per_paragraph = rng.choice((2, 3))
    if sentences:
        paragraphs.append(" ".join(sentences))
    paragraphs.append(NOTE)
    return "\n\n".join(paragraphs)
