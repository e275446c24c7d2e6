"""Unicode normalisation (NFKC) that remembers where every character came from.

Consumers type full-width digits and letters (１３８…, ｘ), full-width punctuation and ideographic
spaces; recognizers match ASCII. NFKC folds those, but it may also change a string's
length (``…`` becomes ``...``, ``㎏`` becomes ``kg``, a base letter and a combining accent merge),
and findings must point into the text the caller gave us. So the text is folded in two ways:

* characters known to fold one-to-one and never to combine with a neighbour (ASCII, CJK, kana,
  the full-width forms, common punctuation) are folded in place and keep their positions;
* any other character is folded on its own with ``unicodedata.normalize`` and its position
  recorded, so a span of the folded text maps back to exact indices of the original.

Most texts contain only the first kind, so the usual cost is two character-class scans and no
position table at all. The tables are built once, on first use (not at import).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

# Ranges whose characters are checked one by one when the tables are built; CJK ideographs
# (3400-4DBF, 4E00-9FFF) are unchanged by NFKC and added wholesale.
_CHECKED_RANGES = (
    (0x0000, 0x024F),  # ASCII, Latin-1, Latin extended
    (0x2000, 0x206F),  # general punctuation
    (0x2100, 0x214F),  # letter-like symbols
    (0x2190, 0x2BFF),  # arrows, maths, technical, box drawing, shapes, symbols
    (0x3000, 0x30FF),  # CJK punctuation, hiragana, katakana
    (0xFF00, 0xFFEF),  # full-width and half-width forms
)
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF))


@dataclass(frozen=True)
class _Tables:
    fold: dict[str, str]  # one-to-one foldings
    foldable: re.Pattern[str]  # a character that folds one-to-one into another
    unsafe: re.Pattern[str]  # a character outside the one-to-one set

    def fold_run(self, run: str) -> str:
        """Fold a run of one-to-one characters. Most characters of Chinese text fold to
        themselves, so the few that do not (full-width forms) are replaced where they are:
        a character-class scan and a lookup per hit, not a lookup per character."""
        if self.foldable.search(run) is None:
            return run
        fold = self.fold
        return self.foldable.sub(lambda m: fold[m.group()], run)


def _ranges(codepoints: list[int]) -> str:
    parts: list[str] = []
    start = prev = codepoints[0]
    for cp in codepoints[1:]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(_range(start, prev))
        start = prev = cp
    parts.append(_range(start, prev))
    return "".join(parts)


def _range(a: int, b: int) -> str:
    return re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"


@cache
def _tables() -> _Tables:
    safe: list[int] = []
    fold: dict[str, str] = {}
    for lo, hi in _CHECKED_RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            folded = unicodedata.normalize("NFKC", ch)
            if (
                len(folded) == 1
                and unicodedata.combining(ch) == 0
                and unicodedata.combining(folded) == 0
                and unicodedata.category(ch) not in ("Mn", "Mc", "Me", "Cs")
            ):
                safe.append(cp)
                if folded != ch:
                    fold[ch] = folded
    for lo, hi in _CJK_RANGES:
        safe.extend(range(lo, hi + 1))
    safe.sort()
    foldable = re.compile(f"[{_ranges(sorted(ord(c) for c in fold))}]")
    return _Tables(fold, foldable, re.compile(f"[^{_ranges(safe)}]"))


@dataclass(frozen=True, slots=True)
class Normalised:
    """The folded text and, when some character did not fold one-to-one, where each folded
    character came from (``starts[i]``/``ends[i]``: its source span in the original)."""

    original: str
    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span of folded ``text[start:end]`` (``end > start``)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def normalise(text: str) -> Normalised:
    """Fold ``text`` with NFKC, keeping a way back to the original indices."""
    if text.isascii():
        return Normalised(text, text)
    tables = _tables()
    if tables.unsafe.search(text) is None:
        return Normalised(text, tables.fold_run(text))
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in tables.unsafe.finditer(text):
        i = m.start()
        if i > pos:
            run = tables.fold_run(text[pos:i])
            pieces.append(run)
            starts.extend(range(pos, i))
            ends.extend(range(pos + 1, i + 1))
        folded = unicodedata.normalize("NFKC", text[i])
        if folded:
            pieces.append(folded)
            starts.extend([i] * len(folded))
            ends.extend([i + 1] * len(folded))
        pos = i + 1
    if pos < len(text):
        pieces.append(tables.fold_run(text[pos:]))
        starts.extend(range(pos, len(text)))
        ends.extend(range(pos + 1, len(text) + 1))
    return Normalised(text, "".join(pieces), tuple(starts), tuple(ends))
