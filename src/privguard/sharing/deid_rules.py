"""De-identification rules: what a dataset spec may name, generalisation hierarchies, and the
search for the least generalisation that reaches k-anonymity (and distinct l-diversity).

Pure: no database, no clock (the "as of" date for ages is part of the spec), no I/O. The pandas
side (reading rows, pseudonyms, building the output) is in ``deid.py``.

Why a full-domain lattice search (Samarati; Incognito/OLA/Flash, as in ARX) and not Mondrian
------------------------------------------------------------------------------------------------
Full-domain generalisation recodes a column the same way in every row: all ages become 10-year
bands, all addresses become cities. So:

* the output keeps the documented hierarchies as its contract: a recipient knows that
  ``广东省/深圳市`` means "somewhere in Shenzhen" everywhere in the file and can analyse the
  column as a whole; Mondrian's local recoding produces per-class ranges (``23-41`` here,
  ``25-38`` there) that do not nest and are hard to aggregate or explain to a consumer;
* address, dates and categories have natural hierarchies (district -> city -> province) that
  Mondrian's median cuts over ordered domains do not respect;
* the lattice is small (a product of a handful of levels per column: a few hundred nodes for the
  usual five quasi-identifiers), and a node is evaluated on a frequency table of the distinct
  quasi-identifier combinations with numpy, not on rows, so a million rows take seconds
  (benchmarks/sharing.py).

The cost is utility: one rare value forces its whole column up a level, or into suppression. That
is what the suppression budget is for: classes still below k (or l) after generalisation are
removed, as long as they hold at most ``max_suppression`` of the rows.

The search walks the lattice by height (sum of levels) and uses the two monotonicity properties
of k-anonymity and distinct l-diversity with record suppression (Incognito, Flash): every
generalisation of a node that satisfies the targets satisfies them too, and every specialisation
of one that fails, fails. Nodes so decided are not evaluated. It collects the *minimal*
satisfying nodes (none of their specialisations satisfies) and returns the one with the least
information loss, as OLA (El Emam et al. 2009) does. With suppression in play the loss is not
strictly monotone, so a non-minimal node could in rare cases lose slightly less; the minimal node
is still the least generalisation in the lattice order, which is what the spec asks for.

Information loss is the normalised certainty penalty (NCP, also Iyengar's loss metric LM): for a
generalised cell, the share of the column's observed values it could stand for,
``(values covered - 1) / (distinct values - 1)`` (0 = exact, 1 = ``*``); a suppressed row counts
1 in every column; the dataset's loss is the mean over rows and quasi-identifier columns, in
[0, 1]. The report also gives the discernibility metric (Bayardo & Agrawal 2005): the sum over
kept classes of ``|class|^2`` plus ``suppressed rows x all rows``. docs/anonymisation.md defines
both for readers.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

SUPPRESSED = "*"
MISSING = "(missing)"

# --------------------------------------------------------------------------------------------
# Fields that never leave in a de-identified dataset
# --------------------------------------------------------------------------------------------

DIRECT_IDENTIFIERS: frozenset[str] = frozenset(
    {
        # Catalog fields that identify a person on their own (catalog.yaml categories user.name,
        # user.contact.phone_number/email, user.government_id.*, user.financial.*,
        # user.device.*, user.location.precise).
        "name",
        "mobile_phone",
        "landline",
        "email",
        "resident_id",
        "passport_number",
        "bank_card",
        "payment_account",
        "device_id",
        "ip_address",
        "precise_location",
        # The vault's key, and the parts of an address below the district.
        "subject_id",
        "detail",
        "postal_code",
    }
)
"""Columns a spec may not name at all: a dataset containing one is not de-identified."""

GENERALISE_ONLY: frozenset[str] = frozenset(
    {"shipping_addresses", "date_of_birth", "purchase_history", "browsing_history",
     "search_history"}
)
"""Catalog fields that may enter a dataset only through a quasi-identifier's hierarchy (an
address as district/city/province, a birth date as an age band), never as raw ``keep`` or
sensitive columns: an exact birth date or a full address book is identifying on its own."""

_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class DeidError(ValueError):
    """A dataset cannot be built as specified; the message names the field and the rule."""

    code = "deid_error"


class SpecRefused(DeidError):
    """The spec itself is not allowed (a direct identifier, a malformed hierarchy...)."""

    code = "deid_spec_refused"

    def __init__(self, field_name: str, rule: str, message: str) -> None:
        self.field = field_name
        self.rule = rule
        super().__init__(f"{field_name}: {message} [{rule}]")


class TargetUnreachable(DeidError):
    """No generalisation in the lattice reaches k (and l) within the suppression budget."""

    code = "deid_target_unreachable"


# --------------------------------------------------------------------------------------------
# Quasi-identifiers and their hierarchies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeQI:
    """Age in whole years -> bands of each width in ``bands`` -> ``*``.

    With ``birth_date=True`` the column holds birth dates and the age is computed as of the spec's
    ``as_of`` date (the exact birth date never leaves).
    """

    column: str
    birth_date: bool = False
    bands: tuple[int, ...] = (5, 10, 20)

    def level_names(self) -> list[str]:
        return ["age", *[f"{w}-year bands" for w in self.bands], SUPPRESSED]


@dataclass(frozen=True)
class AddressQI:
    """A structured address (the catalog's ``address`` shape: province, city, district, detail,
    postal_code; or an ``address_list``, whose first entry is used) -> district -> city ->
    province -> ``*``. ``detail`` and ``postal_code`` are never read."""

    column: str

    def level_names(self) -> list[str]:
        return ["district", "city", "province", SUPPRESSED]


@dataclass(frozen=True)
class DateQI:
    """A date or timestamp -> month -> quarter -> year -> ``*`` (the exact day never leaves)."""

    column: str

    def level_names(self) -> list[str]:
        return ["month", "quarter", "year", SUPPRESSED]


@dataclass(frozen=True)
class CategoryQI:
    """A categorical value (gender, membership tier) -> optional named groups -> ``*``."""

    column: str
    groups: Mapping[str, str] | None = None

    def level_names(self) -> list[str]:
        return ["value", *(["group"] if self.groups else []), SUPPRESSED]


@dataclass(frozen=True)
class RangeQI:
    """A number (an amount) -> ranges of each width in ``widths`` -> ``*``.

    Each width must be a whole multiple of the one before, so ranges nest (100 -> 500 -> 2000):
    a hierarchy whose levels do not nest would let two levels together narrow a value down.
    """

    column: str
    widths: tuple[float, ...] = (100.0, 500.0, 2000.0)

    def level_names(self) -> list[str]:
        return [f"ranges of {_num(w)}" for w in self.widths] + [SUPPRESSED]


QuasiIdentifier = AgeQI | AddressQI | DateQI | CategoryQI | RangeQI


@dataclass(frozen=True)
class DatasetSpec:
    """What a de-identified dataset contains and the privacy model it must reach.

    ``keep`` columns pass through unchanged: only name columns that an attacker cannot know
    about a person from elsewhere (everything else is a quasi-identifier). ``sensitive`` is the
    one attribute l-diversity protects (e.g. product category); it passes through unchanged.
    """

    quasi_identifiers: tuple[QuasiIdentifier, ...]
    k: int
    max_suppression: float = 0.05
    sensitive: str | None = None
    l_diversity: int = 1
    keep: tuple[str, ...] = ()
    subject_column: str = "subject_id"
    pseudonym_column: str | None = "pid"
    as_of: date | None = None

    @property
    def columns(self) -> list[str]:
        """The output's columns, in order."""
        cols = [self.pseudonym_column] if self.pseudonym_column else []
        cols += [q.column for q in self.quasi_identifiers]
        cols += [self.sensitive] if self.sensitive else []
        return cols + list(self.keep)


def check_spec(spec: DatasetSpec) -> None:
    """Refuse a spec that would release identifiers or cannot be evaluated; names the field."""
    if not spec.quasi_identifiers:
        raise SpecRefused("quasi_identifiers", "deid.no_quasi_identifiers",
                          "name at least one quasi-identifier to generalise")
    if not isinstance(spec.k, int) or spec.k < 2:
        raise SpecRefused("k", "deid.k_range", "k must be an integer of at least 2")
    if not isinstance(spec.l_diversity, int) or spec.l_diversity < 1:
        raise SpecRefused("l_diversity", "deid.l_range", "l must be an integer of at least 1")
    if spec.l_diversity > 1 and not spec.sensitive:
        raise SpecRefused("sensitive", "deid.l_needs_sensitive",
                          "l-diversity above 1 needs the sensitive attribute named")
    if spec.l_diversity > spec.k:
        raise SpecRefused("l_diversity", "deid.l_above_k",
                          "l cannot exceed k (a class of k rows has at most k distinct values)")
    if not 0.0 <= spec.max_suppression < 1.0:
        raise SpecRefused("max_suppression", "deid.suppression_range",
                          "the suppression budget must be at least 0 and below 1")
    named: list[tuple[str, str]] = [("quasi_identifiers", q.column)
                                    for q in spec.quasi_identifiers]
    if spec.sensitive:
        named.append(("sensitive", spec.sensitive))
    named += [("keep", c) for c in spec.keep]
    if spec.pseudonym_column:
        named.append(("pseudonym_column", spec.pseudonym_column))
    seen: set[str] = set()
    for role, column in named:
        if not isinstance(column, str) or not _COLUMN.match(column):
            raise SpecRefused(role, "deid.column_name",
                              "column names are 1-64 letters, digits or _, "
                              "not starting with a digit")
        if column in DIRECT_IDENTIFIERS:
            raise SpecRefused(column, "deid.direct_identifier",
                              f"is a direct identifier and never leaves in a de-identified "
                              f"dataset (named as {role})")
        if column in seen:
            raise SpecRefused(column, "deid.duplicate_column", "is named more than once")
        seen.add(column)
        if role in ("keep", "sensitive") and column in GENERALISE_ONLY:
            raise SpecRefused(column, "deid.generalise_only",
                              f"may only be released generalised as a quasi-identifier, "
                              f"not as a {role} column")
    for qi in spec.quasi_identifiers:
        _check_qi(qi, spec)


def _check_qi(qi: QuasiIdentifier, spec: DatasetSpec) -> None:
    if isinstance(qi, AgeQI):
        if not qi.bands or any(not isinstance(w, int) or w < 2 for w in qi.bands):
            raise SpecRefused(qi.column, "deid.age_bands", "age bands are whole years, at least 2")
        _check_nested(qi.column, qi.bands)
        if qi.birth_date and spec.as_of is None:
            raise SpecRefused("as_of", "deid.as_of_required",
                              f"ages from birth dates ({qi.column}) need the spec's as_of date")
    elif isinstance(qi, RangeQI):
        if not qi.widths or any(not (w > 0 and math.isfinite(w)) for w in qi.widths):
            raise SpecRefused(qi.column, "deid.range_widths", "range widths must be positive")
        _check_nested(qi.column, qi.widths)
    elif isinstance(qi, CategoryQI) and qi.groups is not None and not qi.groups:
        raise SpecRefused(qi.column, "deid.category_groups", "groups, if given, must not be empty")


def _check_nested(column: str, widths: Sequence[float]) -> None:
    for smaller, larger in itertools.pairwise(widths):
        ratio = larger / smaller
        if larger <= smaller or abs(ratio - round(ratio)) > 1e-9:
            raise SpecRefused(column, "deid.hierarchy_nesting",
                              "each width must be a whole multiple (above 1) of the one before, "
                              "so that ranges nest")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def level_labels(qi: QuasiIdentifier, base_values: Sequence[Any]) -> list[list[str]]:
    """For each level of ``qi``'s hierarchy, the label of each base value (aligned lists).

    Base values are what ``deid.py`` reduces a column to before the search (age in years, an
    address as ``(province, city, district)``, a month as ``YYYY-MM``, a category as text, the
    lower end of a range of the first width); ``None`` is a missing value, which stays its own
    value (``(missing)``) until the top level. Runs over distinct values only, so a million rows
    cost the same as their few hundred distinct values.
    """
    levels: list[list[str]] = []
    names = qi.level_names()
    for h in range(len(names) - 1):
        levels.append([MISSING if v is None else _label(qi, h, v) for v in base_values])
    levels.append([SUPPRESSED] * len(base_values))
    return levels


def _label(qi: QuasiIdentifier, h: int, v: Any) -> str:
    if isinstance(qi, AgeQI):
        age = int(v)
        if h == 0:
            return str(age)
        width = qi.bands[h - 1]
        lo = age // width * width
        return f"{lo}-{lo + width - 1}"
    if isinstance(qi, AddressQI):
        province, city, district = v
        return "/".join((province, city, district)[: 3 - h])
    if isinstance(qi, DateQI):
        year, month = int(v[:4]), int(v[5:7])
        return (v, f"{year}-Q{(month - 1) // 3 + 1}", str(year))[h]
    if isinstance(qi, CategoryQI):
        text = str(v)
        if h == 0:
            return text
        assert qi.groups is not None
        return qi.groups.get(text, text)
    # RangeQI: v is the lower end of the range of the first width
    width = qi.widths[h]
    lo = math.floor(float(v) / width + 1e-9) * width
    return f"[{_num(lo)}, {_num(lo + width)})"


# --------------------------------------------------------------------------------------------
# The lattice search over a frequency table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One quasi-identifier, reduced for the search: per level, which generalised value each base
    code maps to, its label, and the NCP of each generalised value."""

    name: str
    level_names: tuple[str, ...]
    maps: tuple[np.ndarray, ...]  # maps[h][base code] -> code at level h
    labels: tuple[np.ndarray, ...]  # labels[h][code at level h] -> text
    loss: tuple[np.ndarray, ...]  # loss[h][code at level h] -> NCP in [0, 1]

    @property
    def height(self) -> int:
        return len(self.maps)

    def lift(self, lower: int, upper: int) -> np.ndarray:
        """Codes at level ``lower`` -> codes at level ``upper`` (the hierarchy nests)."""
        out = np.empty(len(self.labels[lower]), dtype=np.int64)
        out[self.maps[lower]] = self.maps[upper]
        return out


def build_column(qi: QuasiIdentifier, base_values: Sequence[Any]) -> Column:
    """The search's view of one quasi-identifier whose distinct base values are ``base_values``."""
    per_level = level_labels(qi, base_values)
    domain = len(base_values)
    maps, labels, losses = [], [], []
    for texts in per_level:
        codes, uniques = pd.factorize(np.asarray(texts, dtype=object))
        cover = np.bincount(codes, minlength=len(uniques))
        maps.append(codes.astype(np.int64))
        labels.append(np.asarray(uniques, dtype=object))
        if domain <= 1:
            losses.append(np.full(len(uniques), 1.0 if texts[0] == SUPPRESSED else 0.0))
        else:
            losses.append((cover - 1) / (domain - 1))
    return Column(qi.column, tuple(qi.level_names()), tuple(maps), tuple(labels), tuple(losses))


@dataclass(frozen=True)
class FrequencyTable:
    """Distinct combinations of base codes (one row each), with how many rows share each; with a
    sensitive attribute, the combination includes its code (so l can be counted)."""

    codes: tuple[np.ndarray, ...]  # per quasi-identifier, the base code of each combination
    counts: np.ndarray
    sensitive: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class Classes:
    """A node's equivalence classes: per class its code in each column, its row count, and (for
    l) the distinct (class, sensitive value) pairs. The frequency table is the bottom node's
    classes (with rows repeated per sensitive value); any node's classes can be computed from
    those of any of its specialisations, which is how the search keeps evaluations cheap."""

    node: tuple[int, ...]
    codes: tuple[np.ndarray, ...]
    counts: np.ndarray
    pair_class: np.ndarray | None = None
    pair_sensitive: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.counts)


@dataclass(frozen=True)
class Evaluation:
    node: tuple[int, ...]
    satisfied: bool
    suppressed: int
    loss: float
    classes: Classes = field(repr=False)
    class_of: np.ndarray = field(repr=False)  # per row of the source classes, its class here
    dropped: np.ndarray = field(repr=False)  # per class here, True if suppressed
    class_l: np.ndarray | None = field(repr=False, default=None)

    @property
    def kept(self) -> np.ndarray:
        return ~self.dropped


def bottom_classes(columns: Sequence[Column], table: FrequencyTable) -> Classes:
    pairs = None if table.sensitive is None else np.arange(len(table.counts), dtype=np.int64)
    return Classes(tuple(0 for _ in columns), table.codes, table.counts, pairs, table.sensitive)


DENSE_LIMIT = 1 << 22
"""Keys below this are counted in a dense array (``bincount``) rather than a hash table: several
times faster, at most 32 MiB for the moment."""


def _group(key: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """Class index of each key (0..m-1) and each class's key."""
    if bound <= DENSE_LIMIT:
        present = np.flatnonzero(np.bincount(key, minlength=bound))
        remap = np.empty(bound, dtype=np.int64)
        remap[present] = np.arange(len(present), dtype=np.int64)
        return remap[key], present
    class_of, uniques = pd.factorize(key)
    return class_of.astype(np.int64), np.asarray(uniques, dtype=np.int64)


def roll_up(
    columns: Sequence[Column], source: Classes, node: Sequence[int], *, k: int, l_diversity: int,
    max_suppressed: int, rows: int, with_l: bool,
) -> Evaluation:
    """The node's classes from those of a specialisation ``source``; classes below k (or l when
    ``with_l``) are suppressed; satisfied if at most ``max_suppressed`` rows go (and some stay)."""
    key = np.zeros(source.size, dtype=np.int64)
    bound = 1
    lifted: list[np.ndarray] = []
    exact = True  # the key is a plain mixed-radix number (no re-factorisation on the way)
    for column, low, high, codes in zip(columns, source.node, node, source.codes, strict=True):
        up = codes if low == high else column.lift(low, high)[codes]
        lifted.append(up)
        cardinality = len(column.labels[high])
        if bound * cardinality >= 2**62:  # keep the mixed-radix key inside int64
            key = pd.factorize(key)[0].astype(np.int64)
            bound = int(key.max()) + 1 if len(key) else 1
            exact = False
        key = key * cardinality + up
        bound *= cardinality
    class_of, class_keys = _group(key, bound)
    n_classes = len(class_keys)
    counts = np.bincount(class_of, weights=source.counts, minlength=n_classes).astype(np.int64)
    class_codes: list[np.ndarray] = []
    if exact:  # read each class's codes back out of its key
        rest = class_keys.copy()
        for column, high in zip(reversed(columns), reversed(node), strict=True):
            cardinality = len(column.labels[high])
            class_codes.append(rest % cardinality)
            rest //= cardinality
        class_codes.reverse()
    else:
        for up in lifted:  # every row of a class has the same code: any write order is right
            codes = np.empty(n_classes, dtype=np.int64)
            codes[class_of] = up
            class_codes.append(codes)
    dropped = counts < k
    pair_class = pair_sensitive = class_l = None
    if with_l and source.pair_class is not None and source.pair_sensitive is not None:
        n_sensitive = int(source.pair_sensitive.max()) + 1 if len(source.pair_sensitive) else 1
        _, pairs = _group(class_of[source.pair_class] * n_sensitive + source.pair_sensitive,
                          n_classes * n_sensitive)
        pair_class, pair_sensitive = pairs // n_sensitive, pairs % n_sensitive
        class_l = np.bincount(pair_class, minlength=n_classes)
        if l_diversity > 1:
            dropped |= class_l < l_diversity
    suppressed = int(counts[dropped].sum())
    cell = np.zeros(n_classes)
    for column, h, codes in zip(columns, node, class_codes, strict=True):
        cell += column.loss[h][codes]
    cell /= len(columns)
    loss = float((cell[~dropped] * counts[~dropped]).sum() + suppressed) / rows if rows else 0.0
    classes = Classes(tuple(node), tuple(class_codes), counts, pair_class, pair_sensitive)
    satisfied = suppressed <= max_suppressed and suppressed < rows
    return Evaluation(tuple(node), satisfied, suppressed, loss, classes, class_of, dropped,
                      class_l)


def discernibility(ev: Evaluation, rows: int) -> int:
    """Sum of |class|^2 over kept classes, plus suppressed rows x all rows."""
    sizes = ev.classes.counts[ev.kept]
    return int((sizes.astype(np.int64) ** 2).sum()) + ev.suppressed * rows


@dataclass(frozen=True)
class SearchResult:
    best: Evaluation  # rolled up from the frequency table: class_of is per table row
    minimal_nodes: int
    evaluated: int
    lattice_size: int


class _Cache:
    """Classes of evaluated nodes, to roll later nodes up from the smallest specialisation.

    Bounded by total classes held (a multiple of the table's size), evicting the largest."""

    def __init__(self, bottom: Classes, budget: int) -> None:
        self.bottom = bottom
        self.entries: list[Classes] = []
        self.budget = budget

    def source(self, node: tuple[int, ...]) -> Classes:
        best = self.bottom
        for entry in self.entries:
            if entry.size < best.size and _leq(entry.node, node):
                best = entry
        return best

    def add(self, classes: Classes) -> None:
        if classes.size * 2 > self.budget:
            return
        self.entries.append(classes)
        while sum(e.size for e in self.entries) > self.budget:
            self.entries.remove(max(self.entries, key=lambda e: e.size))


def search(
    columns: Sequence[Column], table: FrequencyTable, *, k: int, l_diversity: int = 1,
    max_suppression: float = 0.0,
) -> SearchResult:
    """The minimal satisfying generalisation with the least information loss (see module doc).

    Every node of the lattice gets tagged satisfying or failing, mostly without being evaluated:
    from the lowest untagged node a path climbs through untagged generalisations to the top,
    and a binary search along it finds where it starts to satisfy (as Flash does, Kohlmayer et
    al. 2012); each evaluation tags all generalisations of a satisfying node and all
    specialisations of a failing one. The minimal satisfying nodes (all of whose direct
    specialisations fail) then compete on information loss. Each evaluation rolls the classes up
    from the smallest already evaluated specialisation (Incognito's roll-up), not from the rows.
    """
    heights = [c.height for c in columns]
    nodes = sorted(itertools.product(*(range(h) for h in heights)), key=lambda n: (sum(n), n))
    top = tuple(h - 1 for h in heights)
    rows = table.rows
    max_suppressed = math.floor(max_suppression * rows + 1e-9)
    with_l = l_diversity > 1 and table.sensitive is not None
    bottom = bottom_classes(columns, table)
    cache = _Cache(bottom, budget=2 * bottom.size + 1024)
    satisfying: list[tuple[int, ...]] = []  # evaluated nodes that satisfy / fail
    failing: list[tuple[int, ...]] = []
    known: dict[tuple[int, ...], bool] = {}
    losses: dict[tuple[int, ...], float] = {}  # of evaluated satisfying nodes

    def status(node: tuple[int, ...]) -> bool | None:
        if node not in known:
            if any(_leq(s, node) for s in satisfying):
                known[node] = True
            elif any(_leq(node, f) for f in failing):
                known[node] = False
            else:
                return None
        return known[node]

    def check(node: tuple[int, ...]) -> bool:
        ev = roll_up(columns, cache.source(node), node, k=k, l_diversity=l_diversity,
                     max_suppressed=max_suppressed, rows=rows, with_l=with_l)
        cache.add(ev.classes)
        known[node] = ev.satisfied
        (satisfying if ev.satisfied else failing).append(node)
        if ev.satisfied:
            losses[node] = ev.loss
        return ev.satisfied

    evaluated = 0
    for start in nodes:
        if status(start) is not None:
            continue
        path = [start]
        while path[-1] != top:
            here = path[-1]
            up = [(*here[:i], here[i] + 1, *here[i + 1:]) for i in range(len(here))
                  if here[i] < heights[i] - 1]
            untagged = [n for n in up if status(n) is None]
            if not untagged:
                break
            path.append(min(untagged))
        lo, hi = 0, len(path) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            verdict = status(path[mid])
            if verdict is None:
                verdict = check(path[mid])
                evaluated += 1
            if verdict:
                hi = mid - 1
            else:
                lo = mid + 1

    best: tuple[float, int, tuple[int, ...]] | None = None
    minimal = 0
    for node in nodes:
        if not status(node):
            continue
        down = [(*node[:i], node[i] - 1, *node[i + 1:]) for i in range(len(node)) if node[i]]
        if any(status(n) for n in down):
            continue
        minimal += 1
        if node not in losses:
            check(node)
            evaluated += 1
        scored = (losses[node], sum(node), node)
        if best is None or scored < best:
            best = scored
    if best is None:
        raise TargetUnreachable(_unreachable_reason(table, k, l_diversity))
    chosen = roll_up(columns, bottom, best[2], k=k, l_diversity=l_diversity,
                     max_suppressed=max_suppressed, rows=rows,
                     with_l=table.sensitive is not None)
    return SearchResult(chosen, minimal, evaluated, math.prod(heights))


def _leq(a: Sequence[int], b: Sequence[int]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True))


def _unreachable_reason(table: FrequencyTable, k: int, l_diversity: int) -> str:
    n = table.rows
    if n < k:
        return f"k={k} cannot be reached: the input has only {n} rows"
    if table.sensitive is not None and l_diversity > 1:
        distinct = len(np.unique(table.sensitive))
        if distinct < l_diversity:
            return (f"l={l_diversity} cannot be reached: the sensitive attribute has only "
                    f"{distinct} distinct values")
    return (f"k={k}, l={l_diversity} cannot be reached within the suppression budget even with "
            "every quasi-identifier generalised to *")
