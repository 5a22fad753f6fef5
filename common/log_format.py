"""Log lines as JSON (``AIPORTAL_LOG_FORMAT=json``), one object a line, with the trace and span
ids of the request that logged them when tracing is on: a log pipeline joins them to the
trace (docs/operations.md, "Tracing").

The ids are read when the line is formatted, which ``logging.StreamHandler`` does in the
thread that logs, inside the request's context.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from common.telemetry import trace_ids

# LogRecord's own attributes: anything else on a record came from ``extra=`` and is kept.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if ids := trace_ids():
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value if isinstance(value, (str, int, float, bool)) else repr(value)
        return json.dumps(line, ensure_ascii=False)
