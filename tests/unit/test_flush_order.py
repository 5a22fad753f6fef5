"""The test database's flush (tests/conftest.py, _flush_referencing_tables_first) locks a
table before the tables it references, so that it cannot deadlock with a Daphne's commit."""

from __future__ import annotations

import pytest
from django.core.management.color import no_style
from django.db import connection

from tests.conftest import referencing_tables_first


def test_referencing_tables_come_before_the_tables_they_reference():
    order = referencing_tables_first(
        ["accounts_user", "chat_conversation", "gateway_usagerecord", "chat_message"]
    )
    assert order.index("gateway_usagerecord") < order.index("accounts_user")
    assert order.index("chat_message") < order.index("chat_conversation")
    assert order.index("chat_conversation") < order.index("accounts_user")
    assert sorted(order) == sorted(
        ["accounts_user", "chat_conversation", "gateway_usagerecord", "chat_message"]
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="patched into PostgreSQL's flush")
def test_the_postgresql_flush_truncates_in_that_order():
    [sql] = connection.ops.sql_flush(no_style(), ["accounts_user", "gateway_usagerecord"])
    assert sql.index('"gateway_usagerecord"') < sql.index('"accounts_user"')
