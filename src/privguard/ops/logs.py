"""Structured JSON logs whose every line has been through the PI redactor.

A log is the wrong place for personal information (design.md invariant 1), and the code that
logs cannot promise what a message will hold: an exception can quote the input it choked on,
an access-log line carries whatever query string a caller sent. So redaction is a property of
the handler, not of each call site: :class:`RedactPI` rewrites every record's message and
traceback with :func:`privguard.detect.redact` (the project's detector: phones, e-mail
addresses, ID and card numbers, names ... replaced by a type tag) before any formatter sees
it. If the redactor itself fails, the message is withheld rather than written as it was.

``uvicorn`` is configured with the same handler (:func:`logging_config`), so its access and
error lines are JSON and redacted too.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import traceback
from datetime import UTC, datetime
from typing import Any

from privguard.audit.context import client_network, current_request_id

WITHHELD = "[log message withheld: the PI redactor failed on it]"


def redact_text(text: str) -> str:
    """``text`` with every finding of the project's detector replaced by its type tag."""
    try:
        from privguard.detect import redact

        return redact(text)
    except Exception:  # never write what could not be checked
        return WITHHELD


# A request target made only of lower-case words, hyphens, dots, UUIDs and query parameters
# whose values are lower-case words: nothing in it can be personal information, so the access
# line's path skips the detector (about 150 µs a line; at 1,000 requests a second, a sixth of a
# core). Anything else (digits, @, CJK, upper case, %-escapes) goes through the detector.
_WORD = r"[a-z][a-z_.-]*"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SAFE_TARGET = re.compile(
    rf"(?:/(?:{_WORD}|{_UUID}|v1))*/?(?:\?{_WORD}={_WORD}(?:&{_WORD}={_WORD})*)?"
)


def _access_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """uvicorn's access arguments (client, method, target, HTTP version, status) made safe: the
    client's address as its network (audit/context.client_network), the target as it is when
    it matches :data:`SAFE_TARGET`, else through the detector."""
    client, method, target, version, status = args
    host, _, _port = str(client).rpartition(":")
    network = client_network(host.strip("[]") if host else str(client)) or "-"
    if not (isinstance(target, str) and SAFE_TARGET.fullmatch(target)):
        target = redact_text(str(target))
    return (network, method, target, version, status)


class RedactPI(logging.Filter):
    """Replaces the record's message (arguments merged in) and traceback by redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_privguard_redacted", False):
            return True  # several handlers share one record
        if (record.name == "uvicorn.access" and isinstance(record.args, tuple)
                and len(record.args) == 5 and not record.exc_info):
            record.args = _access_args(record.args)
            record._privguard_redacted = True
            return True
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact_text(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._privguard_redacted = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id,
    and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:  # a record that skipped the filter still gets no raw traceback
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def logging_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for privguard and uvicorn: one stderr handler,
    redacting, JSON (``fmt="json"``) or plain text (``"text"``)."""
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "privguard",
        "filters": ["redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": f"{__name__}.RedactPI"}},
        "formatters": {"privguard": formatter},
        "handlers": {"privguard": handler},
        "root": {"handlers": ["privguard"], "level": level.upper()},
        "loggers": {
            # uvicorn's own loggers get our handler instead of theirs (no double lines).
            name: {"handlers": ["privguard"], "level": level.upper(), "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """Apply :func:`logging_config` to this process; returns it (for ``uvicorn.run``)."""
    config = logging_config(level, fmt)
    logging.config.dictConfig(config)
    return config
