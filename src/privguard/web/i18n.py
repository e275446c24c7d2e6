"""Page languages: zh-CN (default) and en, from gettext catalogs (Babel).

The catalogs are the ``.po`` files under ``web/locale``; they are compiled in memory when first
used, so there is no build step and nothing compiled is committed. Source strings are English;
the ``en`` catalog is therefore empty and English falls through to the source text.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("zh-CN", "en")
DEFAULT = "zh-CN"


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog of a supported locale; an unknown one gets the default's."""
    if locale not in LOCALES:
        locale = DEFAULT
    po = LOCALE_DIR / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale.replace("-", "_"))
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def negotiate(cookie: str | None, query: str | None, accept: str | None) -> str:
    """The page language: ``?lang=`` first, then the cookie, then Accept-Language, else
    zh-CN (the platform's consumers are in China first)."""
    for choice in (query, cookie):
        if choice in LOCALES:
            return choice
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh-CN"
    return DEFAULT
