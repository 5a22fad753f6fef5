"""A small JavaScript tokenizer, enough to find the string literals of our own scripts and the
calls they sit in (tests/unit/test_js_strings_marked.py).

Why not a regular expression over the source: quotes inside comments, regular expressions
(``/^Too big: /``) and template literals with nested ``${...}`` would be misread. Why not a
parser from npm (acorn): the test would need a package installed and a node process per run,
for what this file does in a hundred lines. It knows what our scripts use: comments, strings,
template literals (their static parts are yielded, their expressions tokenized), regular
expression literals (told from division by the token before them), identifiers, numbers and
punctuators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PUNCTUATORS = sorted(
    [
        "===", "!==", "**=", "...", "=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.",
        "+=", "-=", "*=", "/=", "++", "--", "**", "<<", ">>",
        *"{}()[];,<>+-*/%&|^!~?:=.@#",
    ],
    key=len,
    reverse=True,
)  # fmt: skip
# After these a "/" starts a regular expression, not a division.
KEYWORDS_BEFORE_EXPRESSION = {"return", "typeof", "case", "do", "else", "in", "of", "new", "void"}
IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
NUMBER = re.compile(r"\d[\w.]*")


@dataclass
class Token:
    kind: str  # "string", "template" (a static part), "regex", "name", "number", "punct"
    value: str
    line: int


class JsTokenizer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.tokens: list[Token] = []

    def line(self) -> int:
        return self.src.count("\n", 0, self.pos) + 1

    def emit(self, kind: str, value: str, line: int) -> None:
        self.tokens.append(Token(kind, value, line))

    def regex_allowed(self) -> bool:
        if not self.tokens:
            return True
        last = self.tokens[-1]
        if last.kind in {"string", "template", "regex", "number"}:
            return False
        if last.kind == "name":
            return last.value in KEYWORDS_BEFORE_EXPRESSION
        return last.value not in {")", "]", "}"}

    def run(self) -> list[Token]:
        self.tokens_until(None)
        return self.tokens

    def tokens_until(self, closer: str | None) -> None:
        """Tokenize until the end, or (inside a template's ``${``) its closing brace."""
        depth = 0
        src = self.src
        while self.pos < len(src):
            c = src[self.pos]
            if c.isspace():
                self.pos += 1
            elif src.startswith("//", self.pos):
                end = src.find("\n", self.pos)
                self.pos = len(src) if end == -1 else end
            elif src.startswith("/*", self.pos):
                self.pos = src.index("*/", self.pos) + 2
            elif c in "'\"":
                line = self.line()
                self.emit("string", self.quoted(c), line)
            elif c == "`":
                self.template()
            elif c == "/" and self.regex_allowed():
                line = self.line()
                self.emit("regex", self.regex(), line)
            elif match := IDENTIFIER.match(src, self.pos):
                self.emit("name", match.group(), self.line())
                self.pos = match.end()
            elif match := NUMBER.match(src, self.pos):
                self.emit("number", match.group(), self.line())
                self.pos = match.end()
            else:
                if closer and c == "}" and depth == 0:
                    self.pos += 1
                    return
                depth += {"{": 1, "}": -1}.get(c, 0)
                punct = next(p for p in PUNCTUATORS if src.startswith(p, self.pos))
                self.emit("punct", punct, self.line())
                self.pos += len(punct)

    def quoted(self, quote: str) -> str:
        out = []
        self.pos += 1
        while self.src[self.pos] != quote:
            if self.src[self.pos] == "\\":
                self.pos += 1
            out.append(self.src[self.pos])
            self.pos += 1
        self.pos += 1
        return "".join(out)

    def template(self) -> None:
        self.pos += 1
        chunk: list[str] = []
        line = self.line()
        while True:
            c = self.src[self.pos]
            if c == "\\":
                chunk.append(self.src[self.pos + 1])
                self.pos += 2
            elif c == "`":
                self.pos += 1
                self.emit("template", "".join(chunk), line)
                return
            elif self.src.startswith("${", self.pos):
                self.emit("template", "".join(chunk), line)
                chunk = []
                self.pos += 2
                self.tokens_until("}")
                line = self.line()
            else:
                chunk.append(c)
                self.pos += 1

    def regex(self) -> str:
        start = self.pos
        self.pos += 1
        in_class = False
        while True:
            c = self.src[self.pos]
            if c == "\\":
                self.pos += 2
                continue
            if c == "[":
                in_class = True
            elif c == "]":
                in_class = False
            elif c == "/" and not in_class:
                break
            self.pos += 1
        self.pos += 1
        while self.pos < len(self.src) and self.src[self.pos].isalpha():
            self.pos += 1  # flags
        return self.src[start : self.pos]


def tokenize(source: str) -> list[Token]:
    return JsTokenizer(source).run()
