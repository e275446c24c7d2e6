"""Detection and redaction of personal information in Chinese and English free text.

``scan(text)`` returns :class:`Finding` objects whose ``start``/``end`` index the text as given;
``redact(text)`` replaces each finding (by default with a type tag such as ``<PHONE_NUMBER>``).
The default detector is built on first use and shared; build your own with
:func:`privguard.detect.registry.build_detector` to choose recognizers or a threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from threading import Lock

from privguard.detect.operators import Operator, Replace, redact_with
from privguard.detect.rules import Detector, Finding

__all__ = ["Detector", "Finding", "default_detector", "redact", "scan"]

_LOCK = Lock()
_DEFAULT: Detector | None = None


def default_detector() -> Detector:
    """The built-in recognizers, built once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        with _LOCK:
            if _DEFAULT is None:
                from privguard.detect.registry import build_detector

                _DEFAULT = build_detector()
    return _DEFAULT


def scan(
    text: str, lang: str | None = None, *, entities: Iterable[str] | None = None
) -> list[Finding]:
    """The personal information in ``text``: non-overlapping findings in text order.

    ``lang`` is ``"zh"``, ``"en"`` or ``None`` (every recognizer; mixed text is common).
    """
    return default_detector().scan(text, lang, entities=entities)


def redact(
    text: str,
    lang: str | None = None,
    *,
    operator: Operator | None = None,
    operators: dict[str, Operator] | None = None,
    entities: Iterable[str] | None = None,
) -> str:
    """``text`` with every finding replaced: by ``operators[entity_type]`` when given, else by
    ``operator`` (default: the type tag, ``<PHONE_NUMBER>``)."""
    findings = scan(text, lang, entities=entities)
    return redact_with(text, findings, operator or Replace(), operators)
