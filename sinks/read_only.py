"""What a read-only query may do: read Miroir's tables, nothing else (pure).

The engine's own read-only mode is not enough: with ``readonly`` set, ClickHouse (and chDB)
still run ``SELECT * FROM file('/etc/passwd', 'LineAsString')``, the scalar ``file()``,
``url()`` (outbound requests) and ``SELECT … INTO OUTFILE … APPEND`` (writes any file the
process may write). So a read-only sink refuses, before anything runs:

1. a statement that does not start with a reading keyword (``READ_ONLY_KEYWORDS``);
2. ``INTO OUTFILE``, and any call of a function that reaches files, other servers or programs
   (``FORBIDDEN_FUNCTIONS`` and the families in ``FORBIDDEN_PREFIXES``) — found on the tokens,
   so a name inside a string or a comment is not mistaken for a call;
3. the same, found again on the engine's own parse tree (``EXPLAIN AST``), which sees through
   quoted names and any spelling the tokens missed (``ast_problems``).

Each refusal says what was found and that ``miroir query`` only reads Miroir's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sinks.sql_tokens import tokenize
from streams.errors import ConfigError, SinkError

__all__ = [
    "FORBIDDEN_FUNCTIONS",
    "FORBIDDEN_PREFIXES",
    "READ_ONLY_KEYWORDS",
    "ast_problems",
    "check_read_only",
    "first_keyword",
]

# Leading keywords a read-only query may start with.
READ_ONLY_KEYWORDS: Final = frozenset({"SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "WITH"})

# Table functions (and the scalar file()) that read files, reach the network or run programs;
# lower-case, as ClickHouse matches function names case-insensitively.
FORBIDDEN_FUNCTIONS: Final = frozenset(
    {
        "file",
        "filecluster",
        "url",
        "urlcluster",
        "remote",
        "remotesecure",
        "cluster",
        "clusterallreplicas",
        "mysql",
        "postgresql",
        "sqlite",
        "mongodb",
        "redis",
        "jdbc",
        "odbc",
        "input",
        "executable",
        "gcs",
        "oss",
        "cosn",
        "arrowflight",
        "ytsaurus",
        "paimon",
        "fuzzquery",
    }
)
# Families of them: s3, s3Cluster, azureBlobStorage…, hdfs…, iceberg…, deltaLake…, hudi…
FORBIDDEN_PREFIXES: Final = ("s3", "azureblob", "hdfs", "iceberg", "deltalake", "hudi")

_REFUSED: Final = "Read-only query refused: {what}. `miroir query` only reads Miroir's tables"


def _forbidden(name: str) -> bool:
    lowered = name.lower()
    return lowered in FORBIDDEN_FUNCTIONS or lowered.startswith(FORBIDDEN_PREFIXES)


def first_keyword(sql: str) -> str:
    """The statement's first word, upper-case, after comments and opening parentheses."""
    for token in tokenize(sql):
        if token.kind == "word":
            return token.text.upper()
        if token.kind not in ("space", "comment") and token.text != "(":
            break
    return ""


def check_read_only(sql: str) -> None:
    """Raise ``SinkError`` unless ``sql`` is one statement that only reads (rules 1 and 2)."""
    try:
        tokens = [t for t in tokenize(sql) if t.kind not in ("space", "comment")]
    except ConfigError as e:
        raise SinkError(_REFUSED.format(what=str(e))) from e
    words = [t for t in tokens if t.kind == "word"]
    first = next((t for t in tokens if t.text != "("), None)
    if first is None or first.kind != "word" or first.text.upper() not in READ_ONLY_KEYWORDS:
        found = "nothing" if first is None else repr(first.text.upper()[:20])
        raise SinkError(
            f"Read-only query refused: it starts with {found}; only "
            f"{', '.join(sorted(READ_ONLY_KEYWORDS))} statements are allowed"
        )
    if any(t.text == ";" for t in tokens[:-1]):
        raise SinkError(_REFUSED.format(what="one statement at a time (found ';' inside)"))
    for word, following in zip(words, words[1:], strict=False):
        if word.text.upper() == "INTO" and following.text.upper() == "OUTFILE":
            raise SinkError(_REFUSED.format(what="INTO OUTFILE writes a file"))
    for token, following in zip(tokens, tokens[1:], strict=False):
        name = token.text.strip('`"') if token.kind in ("word", "quoted") else ""
        if name and following.text == "(" and _forbidden(name):
            raise SinkError(
                _REFUSED.format(what=f"{name}() reaches files, other servers or programs")
            )


def ast_problems(explain_ast: Iterable[str]) -> list[str]:
    """What rule 3 finds in the lines of ``EXPLAIN AST <query>``: forbidden functions, and an
    output file (a literal directly under the top query, where INTO OUTFILE puts its path)."""
    problems = []
    for line in explain_ast:
        text = line.strip()
        if text.startswith("Function "):
            name = text.split()[1]
            if _forbidden(name):
                problems.append(f"{name}() reaches files, other servers or programs")
        elif line.startswith(" Literal ") and not line.startswith("  "):
            problems.append("INTO OUTFILE writes a file")
    return problems
