"""The test database's flush (tests/conftest.py, _flush_referencing_tables_first) locks a
table before the tables it references, so that it cannot deadlock with a Daphne's commit."""

from __future__ import annotations

from django.core.management.color import no_style
from django.db import connection

from tests.conftest import referencing_tables_first

# Every table of the project: some of them point at each other, which must not undo the rest.
TABLES = connection.introspection.django_table_names(include_views=False)


def test_referencing_tables_come_before_the_tables_they_reference():
    order = referencing_tables_first(TABLES)
    assert sorted(order) == sorted(TABLES)
    for child, parent in [
        ("gateway_usagerecord", "accounts_user"),
        ("usersessions_usersession", "accounts_user"),
        ("chat_message", "chat_conversation"),
        ("chat_conversation", "accounts_user"),
        ("auth_group_permissions", "auth_group"),
    ]:
        assert order.index(child) < order.index(parent), (child, parent)


def test_the_postgresql_flush_truncates_in_that_order():
    [sql] = connection.ops.sql_flush(no_style(), ["accounts_user", "gateway_usagerecord"])
    assert sql.index('"gateway_usagerecord"') < sql.index('"accounts_user"')
