"""Recognizers by name: the built-in ones, ones registered in code, and ones a package declares
under the ``privguard.recognizers`` entry-point group (so a Spark executor or an API worker
finds them without code changes), in the same way key providers are found (crypto/providers.py).

A factory is a callable with no arguments that returns a :class:`~privguard.detect.rules.
Recognizer`; it is called when a detector is built, never at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import entry_points

from privguard.detect.recognizers.address import AddressRecognizer
from privguard.detect.recognizers.identifiers import (
    EmailRecognizer,
    IpRecognizer,
    LicensePlateRecognizer,
    WeChatRecognizer,
)
from privguard.detect.recognizers.numbers import (
    BankCardRecognizer,
    PassportRecognizer,
    PhoneRecognizer,
    QQRecognizer,
    ResidentIdRecognizer,
    UsccRecognizer,
)
from privguard.detect.recognizers.person import ChineseNameRecognizer, EnglishNameRecognizer
from privguard.detect.rules import DEFAULT_THRESHOLD, Detector, Recognizer

RecognizerFactory = Callable[[], Recognizer]
ENTRY_POINT_GROUP = "privguard.recognizers"

_REGISTRY: dict[str, RecognizerFactory] = {
    "phone": PhoneRecognizer,
    "cn_resident_id": ResidentIdRecognizer,
    "bank_card": BankCardRecognizer,
    "email": EmailRecognizer,
    "ip": IpRecognizer,
    "cn_license_plate": LicensePlateRecognizer,
    "passport": PassportRecognizer,
    "cn_uscc": UsccRecognizer,
    "person_zh": ChineseNameRecognizer,
    "person_en": EnglishNameRecognizer,
    "address": AddressRecognizer,
    "wechat": WeChatRecognizer,
    "qq": QQRecognizer,
}
BUILTIN = tuple(_REGISTRY)


class UnknownRecognizer(LookupError):
    pass


def register(name: str, factory: RecognizerFactory) -> None:
    """Add (or replace) a recognizer under ``name``."""
    _REGISTRY[name] = factory


def unregister(name: str) -> None:
    """Remove a recognizer registered in code (detectors already built keep theirs)."""
    _REGISTRY.pop(name, None)


def factory(name: str) -> RecognizerFactory:
    if name in _REGISTRY:
        return _REGISTRY[name]
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=name):
        found = entry.load()
        register(name, found)
        return found
    raise UnknownRecognizer(
        f"unknown recognizer {name!r}; known: {', '.join(sorted(available()))}"
    )


def clear_caches() -> None:
    """Empty the built-in recognizers' caches of validated values (for benchmarks)."""
    from privguard.detect.recognizers import numbers, person

    numbers.clear_caches()
    person.clear_caches()


def available() -> list[str]:
    return sorted({*_REGISTRY, *(e.name for e in entry_points(group=ENTRY_POINT_GROUP))})


def build_detector(
    names: Iterable[str] | None = None, *, threshold: float = DEFAULT_THRESHOLD
) -> Detector:
    """A detector with the named recognizers (default: the built-in ones plus any that a
    package declares as entry points)."""
    if names is None:
        names = [*BUILTIN, *(n for n in available() if n not in BUILTIN)]
    return Detector([factory(n)() for n in names], threshold=threshold)
