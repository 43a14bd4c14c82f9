"""Log lines of the service: one line per outcome, as text for people or JSON for machines (`--log-json`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["JsonFormatter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and an outcome's fields when it has them."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, timezone.utc).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "signoff", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        try:
            return json.dumps(out, ensure_ascii=False)
        except UnicodeEncodeError:  # a file name that is not UTF-8
            return json.dumps(out, ensure_ascii=True)


def configure_logging(level: int, *, json_lines: bool = False, service_level: int | None = None) -> None:
    """Log to stderr (stdout is data): text, or one JSON object per line.

    Args:
        level: the level of the `pipeline` loggers.
        json_lines: JSON lines instead of text.
        service_level: the level of `pipeline.service` (the outcome lines), if other than `level`.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT, "%H:%M:%S"))
    root = logging.getLogger("pipeline")
    root.handlers[:] = [handler]
    root.setLevel(level)
    service = logging.getLogger("pipeline.service")
    service.setLevel(service_level if service_level is not None else logging.NOTSET)
    # The service says what became of each file in one line; filing's own lines would say it twice.
    logging.getLogger("pipeline.filing").setLevel(logging.ERROR if level > logging.DEBUG else logging.NOTSET)
