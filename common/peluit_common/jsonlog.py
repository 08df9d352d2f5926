"""JSON log lines that never carry exception messages or call arguments.

Exception texts (psycopg's "Key (x)=(...)", a validation error quoting input)
can hold reporter data, so a record keeps the exception *type* and the code
frames only. Any exception passed as a %-argument is reduced to its type name.
"""

from __future__ import annotations

import json
import logging
import time
import traceback


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "peluit", **kwargs):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, tuple):
            args = tuple(type(a).__name__ if isinstance(a, BaseException) else a for a in args)
        try:
            message = record.msg % args if args else str(record.msg)
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": message,
        }
        for key, value in getattr(record, "fields", {}).items():
            line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            line["exc_type"] = exc_type.__name__
            line["stack"] = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)]
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(service: str, level: str = "INFO") -> dict:
    """A ``logging.config.dictConfig`` for nameko's LOGGING key."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "peluit_common.jsonlog.JsonFormatter", "service": service}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # eventlet's wsgi access lines carry client addresses: never log them
            "nameko.web.server": {"level": "WARNING"},
            "kombu": {"level": "WARNING"},
            "amqp": {"level": "WARNING"},
        },
    }


def log_fields(**fields) -> dict:
    """``extra=`` helper: structured fields for one line."""
    return {"fields": fields}
