"""A read-only query only reads: the token and parse-tree checks of sinks.read_only."""

from __future__ import annotations

import pytest

from sinks.read_only import ast_problems, check_read_only, first_keyword
from streams.errors import SinkError

REFUSED = [
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "file()"),
    ("select upper(FILE('/etc/hostname'))", "FILE()"),
    ("SELECT * FROM `file`('/etc/passwd', 'LineAsString')", "file()"),
    ("SELECT * FROM file /* gap */ ('/etc/passwd', 'LineAsString')", "file()"),
    ("SELECT * FROM url('http://169.254.169.254/latest/meta-data', 'LineAsString')", "url()"),
    ("SELECT * FROM s3('https://bucket.s3.amazonaws.com/x.csv')", "s3()"),
    ("SELECT * FROM s3Cluster('c', 'https://b/x.csv')", "s3Cluster()"),
    ("SELECT * FROM remote('10.0.0.1', system.one)", "remote()"),
    ("SELECT * FROM remoteSecure('10.0.0.1', system.one)", "remoteSecure()"),
    ("SELECT * FROM clusterAllReplicas('c', system.one)", "clusterAllReplicas()"),
    ("SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')", "mysql()"),
    ("SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')", "postgresql()"),
    ("SELECT * FROM sqlite('/tmp/x.db', 't')", "sqlite()"),
    ("SELECT * FROM hdfs('hdfs://h/x', 'CSV')", "hdfs()"),
    ("SELECT * FROM azureBlobStorage('x')", "azureBlobStorage()"),
    ("SELECT * FROM icebergS3('x')", "icebergS3()"),
    ("SELECT * FROM deltaLake('x')", "deltaLake()"),
    ("SELECT * FROM executable('x.sh', 'CSV', 'a String')", "executable()"),
    ("SELECT * FROM jdbc('x', 't')", "jdbc()"),
    ("SELECT * FROM odbc('x', 't')", "odbc()"),
    ("WITH x AS (SELECT * FROM url('http://a/b', 'CSV')) SELECT * FROM x", "url()"),
    ("DESCRIBE TABLE file('/etc/passwd', 'LineAsString')", "file()"),
    ("EXPLAIN SELECT * FROM file('/etc/passwd')", "file()"),
    ("SELECT 1 INTO OUTFILE '/tmp/x.sh'", "INTO OUTFILE"),
    ("SELECT 'echo pwned' INTO -- split\n OUTFILE '/tmp/x.sh' APPEND", "INTO OUTFILE"),
    ("SELECT 1; DROP TABLE mirror_alerts", "one statement"),
    ("INSERT INTO mirror_alerts SELECT * FROM mirror_alerts", "starts with 'INSERT'"),
    ("SELECT 'unterminated", "Unterminated"),
]


@pytest.mark.parametrize(("sql", "why"), REFUSED)
def test_forbidden_forms_are_refused_with_what_was_found(sql: str, why: str) -> None:
    with pytest.raises(SinkError, match="Read-only query refused") as refused:
        check_read_only(sql)
    assert why in str(refused.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'file(' AS text, \"url\" FROM v_alerts",  # names inside strings and as columns
        "SELECT team_id AS file FROM v_team_windows -- file('/etc/passwd')",
        "/* url('x') */ SELECT count() FROM mirror_alerts",
        "SELECT URLHierarchy('https://a/b'), filesystemAvailable() FROM system.one",
        "(SELECT 1);",
        "SHOW TABLES",
        "WITH 2 AS two SELECT two",
    ],
)
def test_reading_queries_pass(sql: str) -> None:
    check_read_only(sql)


def test_the_first_keyword_skips_comments_and_parentheses() -> None:
    assert first_keyword("  -- latest\n /* x */ ((select 1))") == "SELECT"
    assert first_keyword("'text'") == ""


def test_the_parse_tree_shows_functions_and_an_output_file() -> None:
    tree = [
        "SelectWithUnionQuery (children 3)",
        " ExpressionList (children 1)",
        "  SelectQuery (children 1)",
        "   ExpressionList (children 1)",
        "    Function upper (children 1)",
        "     ExpressionList (children 1)",
        "      Function FiLe (children 1)",
        "       ExpressionList (children 1)",
        "        Literal '/etc/hostname'",
        " Literal '/tmp/out.txt'",
        " Identifier Native",
    ]
    assert ast_problems(tree) == [
        "FiLe() reaches files, other servers or programs",
        "INTO OUTFILE writes a file",
    ]
    assert ast_problems(tree[:5] + tree[-1:]) == []
