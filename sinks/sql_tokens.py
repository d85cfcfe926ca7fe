"""ClickHouse SQL as tokens: enough of its lexical rules to find statement structure without
being fooled by strings, quoted names or comments (pure). Used to rewrite DDL for a cluster
(``sinks.cluster``) and to check that a read-only query only reads (``sinks.read_only``)."""

from __future__ import annotations

from dataclasses import dataclass

from streams.errors import ConfigError

__all__ = ["Token", "tokenize"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | quoted (identifier) | string | number | punct | space | comment
    text: str
    start: int
    end: int


def tokenize(sql: str) -> list[Token]:
    """ClickHouse's lexical shapes, enough to find statement structure: string literals with
    '' and backslash escapes, `quoted` and "quoted" identifiers, -- / # / nested /* */
    comments, words, numbers; every other character is a one-character punct token."""
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        start = i
        if c.isspace():
            while i < n and sql[i].isspace():
                i += 1
            kind = "space"
        elif sql.startswith("--", i) or (c == "#" and sql[i + 1 : i + 2] in (" ", "!")):
            i = sql.find("\n", i)
            i = n if i < 0 else i
            kind = "comment"
        elif sql.startswith("/*", i):
            depth, i = 1, i + 2
            while depth:
                if i >= n:
                    raise ConfigError(f"Unterminated /* comment: {sql[start : start + 80]!r}")
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            kind = "comment"
        elif c in "'`\"":
            i += 1
            while True:
                if i >= n:
                    raise ConfigError(f"Unterminated {c}quote{c}: {sql[start : start + 80]!r}")
                if sql[i] == "\\":
                    i += 2
                elif sql[i] == c:
                    if sql[i + 1 : i + 2] == c:  # doubled: an escaped quote
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    i += 1
            kind = "string" if c == "'" else "quoted"
        elif c.isalpha() or c == "_":
            while i < n and (sql[i].isalnum() or sql[i] in "_$"):
                i += 1
            kind = "word"
        elif c.isdigit():
            while i < n and (sql[i].isalnum() or sql[i] in "_."):
                i += 1
            kind = "number"
        else:
            i += 1
            kind = "punct"
        tokens.append(Token(kind, sql[start:i], start, i))
    return tokens
