"""The detection engine: findings, the recognizer plug-in shape, context scoring and overlap
resolution. Pure: no database, no web framework, no clock.

A recognizer is a small object with an entity type, a way to find candidate spans in the
(NFKC-folded) text, a validator that turns a candidate into a base score or rejects it, and
context words that raise (or, for "negative" words such as 订单号, lower) the score when they
stand just before the candidate. The shape follows Presidio's recognizer registry; the code is
our own, because Presidio's word boundaries fail next to Chinese characters (``\\b`` sees no
boundary between 号 and 1) and its recognizers know nothing of PRC identifiers.

Boundaries here are explicit look-arounds on ASCII letters and digits, never ``\\b``: a phone
number glued to Chinese text (电话13812345678谢谢) is still a whole candidate, while digits inside
a longer run of digits or an order code (SO13812345678) are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from privguard.detect.normalise import Normalised, normalise

DEFAULT_THRESHOLD = 0.5
CONTEXT_WINDOW = 12  # characters before a candidate searched for context words
HAS_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One piece of PI: ``start``/``end`` are Python ``str`` indices into the caller's text
    (``text[start:end]`` is the value), never into a normalised copy. No value is kept, so a
    finding can be logged, counted or sent anywhere."""

    start: int
    end: int
    entity_type: str
    score: float

    def as_dict(self) -> dict[str, object]:
        return {
            "entity_type": self.entity_type,
            "start": self.start,
            "end": self.end,
            "score": self.score,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """A span of the normalised text a recognizer proposes, with its score before context."""

    start: int
    end: int
    score: float
    entity_type: str | None = None  # when a recognizer reports more than one type


class Doc:
    """One text being scanned: the original, its folded form, and values several recognizers
    share (so, e.g., the digit runs are found once per text, not once per recognizer)."""

    __slots__ = ("_digit", "_lower", "cache", "norm", "text")

    def __init__(self, text: str) -> None:
        self.norm: Normalised = normalise(text)
        self.text: str = self.norm.text
        self._lower: str | None = None
        self._digit: bool | None = None
        self.cache: dict[str, object] = {}

    @property
    def lower(self) -> str:
        if self._lower is None:
            lower = self.text.lower()
            if len(lower) != len(self.text):  # a few characters lower-case to two (İ)
                lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in self.text)
            self._lower = lower
        return self._lower

    @property
    def has_digit(self) -> bool:
        if self._digit is None:
            self._digit = HAS_DIGIT.search(self.text) is not None
        return self._digit


@runtime_checkable
class Recognizer(Protocol):
    """A detector plug-in (register it with :func:`privguard.detect.registry.register`)."""

    name: str
    entity_type: str
    languages: frozenset[str]  # "zh", "en"; a scan with lang=None runs every recognizer

    def find(self, doc: Doc) -> Iterable[Candidate]:
        """Candidates with their final score (context applied); the engine drops those under
        the threshold and resolves overlaps."""
        ...


def trie_regex(words: Iterable[str]) -> str:
    """An alternation shaped like a trie, so the regex engine tests one character class per
    position instead of thousands of alternatives."""
    trie: dict[str, dict] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        ends = "" in node
        leaves = [ch for ch, child in sorted(node.items()) if ch and list(child) == [""]]
        branches = [
            re.escape(ch) + build(child)
            for ch, child in sorted(node.items())
            if ch and list(child) != [""]
        ]
        if len(leaves) == 1:
            branches.append(re.escape(leaves[0]))
        elif leaves:
            branches.append("[" + "".join(re.escape(c) for c in leaves) + "]")
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return build(trie)


def context_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation of lower-cased context words (matched against the lower-cased text);
    the trie shape makes the longest word win at each position."""
    items = {w.lower() for w in words if w}
    if not items:
        return None
    return re.compile(trie_regex(items))


@dataclass
class PatternRecognizer:
    """The common shape: a regex finds candidates, :meth:`validate` scores each one, and the
    nearest context word in the window before it moves the score up (``context``) or down
    (``negative_context``). Subclasses set the class attributes and override ``validate``."""

    name: ClassVar[str]
    entity_type: ClassVar[str]
    languages: ClassVar[frozenset[str]] = frozenset({"zh", "en"})
    pattern: ClassVar[re.Pattern[str]]
    context: ClassVar[Sequence[str]] = ()
    negative_context: ClassVar[Sequence[str]] = ()
    context_boost: ClassVar[float] = 0.3
    negative_penalty: ClassVar[float] = 0.5
    window: ClassVar[int] = CONTEXT_WINDOW
    needs_digit: ClassVar[bool] = False
    group: ClassVar[int] = 0  # the regex group that is the value

    _ctx: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    _neg: frozenset[str] = field(default_factory=frozenset, init=False, repr=False)

    def __post_init__(self) -> None:
        self._ctx = context_pattern([*self.context, *self.negative_context])
        self._neg = frozenset(w.lower() for w in self.negative_context)

    def validate(self, value: str) -> float | None:
        """The base score of a candidate's value, or ``None`` to reject it."""
        raise NotImplementedError

    def spans(self, doc: Doc) -> Iterator[tuple[int, int]]:
        g = self.group
        for m in self.pattern.finditer(doc.text):
            yield m.start(g), m.end(g)

    def find(self, doc: Doc) -> Iterator[Candidate]:
        if self.needs_digit and not doc.has_digit:
            return
        text = doc.text
        for start, end in self.spans(doc):
            score = self.validate(text[start:end])
            if score is None:
                continue
            yield Candidate(start, end, self.adjust(doc, start, score))

    def adjust(self, doc: Doc, start: int, score: float) -> float:
        """The score after the nearest context word before ``start`` (if any) is applied."""
        if self._ctx is None:
            return score
        lo = max(0, start - self.window)
        last = None
        for m in self._ctx.finditer(doc.lower, lo, start):
            last = m
        if last is None:
            return score
        if last.group() in self._neg:
            return max(0.0, score - self.negative_penalty)
        return min(1.0, score + self.context_boost)


def resolve(findings: Iterable[Finding]) -> list[Finding]:
    """Keep non-overlapping findings: the longest span wins, then the higher score.

    Every finding here already passed its validator and the threshold, so the longer one is the
    safer redaction: an 18-digit ID number holds an 11-digit run that could pass as a phone
    number, an e-mail address may hold a phone number in its local part, and a grouped card
    number holds shorter groups. Keeping the longest keeps the whole value covered.
    """
    ranked = sorted(findings, key=lambda f: (f.start - f.end, -f.score, f.start, f.entity_type))
    kept: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for f in ranked:
        if any(f.start < e and s < f.end for s, e in taken):
            continue
        kept.append(f)
        taken.append((f.start, f.end))
    kept.sort()
    return kept


class Detector:
    """A set of recognizers and a threshold. Build once, reuse for every text (the
    recognizers' regexes and tables are built when the detector is)."""

    def __init__(
        self, recognizers: Sequence[Recognizer], *, threshold: float = DEFAULT_THRESHOLD
    ) -> None:
        self.recognizers = tuple(recognizers)
        self.threshold = threshold
        self._by_lang: dict[str | None, tuple[Recognizer, ...]] = {None: self.recognizers}
        for lang in ("zh", "en"):
            self._by_lang[lang] = tuple(r for r in self.recognizers if lang in r.languages)

    @property
    def entity_types(self) -> list[str]:
        return sorted({r.entity_type for r in self.recognizers})

    def scan(
        self,
        text: str,
        lang: str | None = None,
        *,
        entities: Iterable[str] | None = None,
    ) -> list[Finding]:
        """The PI in ``text``, as non-overlapping findings ordered by position."""
        if not text:
            return []
        recognizers = self._by_lang.get(lang)
        if recognizers is None:
            raise ValueError(f"lang must be 'zh', 'en' or None, not {lang!r}")
        if entities is not None:
            wanted = frozenset(entities)
            recognizers = tuple(r for r in recognizers if r.entity_type in wanted)
        doc = Doc(text)
        threshold = self.threshold
        found: list[Finding] = []
        to_original = doc.norm.to_original
        for r in recognizers:
            for c in r.find(doc):
                if c.score >= threshold:
                    start, end = to_original(c.start, c.end)
                    found.append(
                        Finding(start, end, c.entity_type or r.entity_type, round(c.score, 2))
                    )
        if len(found) < 2:
            return found
        return resolve(found)
