"""Django's SQLite backend on sqlean.py's SQLite, with sqlite-vec loaded on every connection.

Why not the standard library's ``sqlite3``: Python built without
``--enable-loadable-sqlite-extensions`` (this project's own interpreter, some distributions'
and pyenv's defaults) has no ``enable_load_extension``, so sqlite-vec cannot be loaded there.
``sqlean-py`` ships its own recent SQLite (with FTS5) as wheels for Linux, macOS and Windows,
the same on every Python, and lets extensions load; ``pysqlite3-binary`` would do the same on
Linux x86-64 only. Everything else is Django's backend as it is: only the driver module, the
cursor class (a cursor must belong to the driver that made its connection) and the
connection's set-up change.

If sqlite-vec cannot be loaded (a platform without its wheel), the connection still works
and ``vectors_available`` says False: search then falls back to full-text
(datasets/selectors/vectors.py), and the system check ``datasets.W001`` tells the operator.
"""

from __future__ import annotations

import datetime
import decimal
import logging
from collections.abc import Mapping
from itertools import tee
from typing import Any

import sqlean.dbapi2 as Database
from django.db.backends.sqlite3 import base as sqlite_base
from django.utils.dateparse import parse_date, parse_datetime, parse_time

logger = logging.getLogger(__name__)

# The converters and adapters Django registers on the standard library's module, registered
# on this driver's too (they are per module).
Database.register_converter("bool", b"1".__eq__)
Database.register_converter("date", sqlite_base.decoder(parse_date))
Database.register_converter("time", sqlite_base.decoder(parse_time))
Database.register_converter("datetime", sqlite_base.decoder(parse_datetime))
Database.register_converter("timestamp", sqlite_base.decoder(parse_datetime))
Database.register_adapter(decimal.Decimal, str)
Database.register_adapter(datetime.date, sqlite_base.adapt_date)
Database.register_adapter(datetime.datetime, sqlite_base.adapt_datetime)


def _vec_load(conn: Any) -> bool:
    try:
        import sqlite_vec
    except ImportError:
        return False
    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
    except Exception:
        logger.warning("sqlite-vec could not be loaded: vector search is off", exc_info=True)
        return False
    finally:
        conn.enable_load_extension(False)
    return True


class DatabaseWrapper(sqlite_base.DatabaseWrapper):  # type: ignore[misc]  # Django is untyped
    Database = Database
    # Whether the last connection made has sqlite-vec: what the vector search asks.
    vectors_available = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        conn = Database.connect(**conn_params)
        self.vectors_available = _vec_load(conn)
        sqlite_base.register_functions(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA legacy_alter_table = OFF")
        for init_command in self.init_commands:
            if init_command := init_command.strip():
                conn.execute(init_command)
        return conn

    def create_cursor(self, name: str | None = None) -> Any:
        return self.connection.cursor(factory=CursorWrapper)


class CursorWrapper(Database.Cursor):  # type: ignore[misc]  # sqlean is untyped
    """Django's placeholders (``%s``, ``%(name)s``) turned into SQLite's, as Django's own
    cursor wrapper does for the standard library's driver (whose conversion it reuses)."""

    def execute(self, query: str, params: Any = None) -> Any:
        if params is None:
            return super().execute(query)
        names = list(params) if isinstance(params, Mapping) else None
        return super().execute(self._converted(query, names), params)

    def executemany(self, query: str, param_list: Any) -> Any:
        peek, param_list = tee(iter(param_list))
        first = next(peek, None)
        names = list(first) if first and isinstance(first, Mapping) else None
        return super().executemany(self._converted(query, names), param_list)

    def _converted(self, query: str, names: list[str] | None) -> str:
        converted: str = sqlite_base.SQLiteCursorWrapper.convert_query(
            self, query, param_names=names
        )
        return converted
