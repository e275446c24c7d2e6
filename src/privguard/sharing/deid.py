"""De-identified datasets: rows already read through the gate -> a k-anonymous (and l-diverse)
table with per-recipient pseudonyms, and a report of what was achieved.

The seam with the rest of sharing
---------------------------------
:func:`build_dataset` takes rows that have *already* been read through the vault's gate (plain
dicts, one per row, as ``Vault.read`` returns them, plus the subject's id) and a recipient's
:class:`~privguard.sharing.pseudonyms.Pseudonymiser`. It decides nothing about who may receive
what: checking the agreement, the separate consent (PIPL Art. 23) and the policy, and logging the
transfer, happen before it, in the transfer service. It touches no database. What it guarantees
is about the output only:

* no direct identifier is in it (a spec naming one is refused, :class:`SpecRefused` names the
  field) and no column outside the spec is copied (input rows may carry more fields);
* the subject id is replaced by the recipient's pseudonym;
* one row per person (a subject appearing twice is refused: k counts rows, and two rows of one
  person in a class of k would be fewer than k people);
* every equivalence class over the quasi-identifiers has at least ``k`` rows and, with a sensitive
  attribute, at least ``l`` distinct values of it; rows that could not be so grouped are
  suppressed (left out), at most ``max_suppression`` of them;
* the report says the k, l, suppression rate and information loss actually achieved.

:func:`record_dataset_release` writes the report (never the data) for the recipient's record, in
the caller's transaction.

Rows are turned into a pandas frame once; everything after that is column-wise (numpy/pandas);
the hierarchies run over distinct values and the search over the frequency table of distinct
combinations (deid_rules.py), so the cost per row is a few vector operations.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from privguard.sharing.deid_rules import (
    AddressQI,
    AgeQI,
    CategoryQI,
    Column,
    DatasetSpec,
    DateQI,
    DeidError,
    FrequencyTable,
    QuasiIdentifier,
    RangeQI,
    SpecRefused,
    build_column,
    check_spec,
    discernibility,
    search,
)
from privguard.sharing.dp_models import DatasetRelease
from privguard.sharing.pseudonyms import Pseudonymiser

ADDRESS_PARTS = ("province", "city", "district")


@dataclass(frozen=True)
class DeidReport:
    """What a de-identified dataset achieved. Holds no row of data, so it can be stored and shown.

    ``information_loss`` is the NCP in [0, 1] (0 = nothing generalised, 1 = everything ``*`` or
    suppressed); ``discernibility`` is the DM (docs/anonymisation.md defines both).
    """

    k_target: int
    l_target: int
    k_achieved: int
    l_achieved: int | None
    rows_in: int
    rows_out: int
    suppressed: int
    suppression_rate: float
    max_suppression: float
    information_loss: float
    discernibility: int
    levels: dict[str, str]
    level_heights: dict[str, int]
    sensitive: str | None
    lattice_size: int
    nodes_evaluated: int
    minimal_nodes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


def _frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Only the columns the spec uses (and the subject id, to check one row per person); a
    missing column is an error naming it."""
    needed = {spec.subject_column} if spec.pseudonym_column else set()
    needed |= {q.column for q in spec.quasi_identifiers} | set(spec.keep)
    if spec.sensitive:
        needed.add(spec.sensitive)
    if isinstance(rows, pd.DataFrame):
        frame = rows
    else:
        wanted = needed | {spec.subject_column}
        frame = pd.DataFrame.from_records(
            [{c: r.get(c) for c in wanted if c in r} for r in rows]
        )
    for column in sorted(needed):
        if column in frame.columns:
            continue
        qi = next((q for q in spec.quasi_identifiers if q.column == column), None)
        if isinstance(qi, AddressQI) and all(f"{column}_{p}" in frame.columns
                                             for p in ADDRESS_PARTS):
            continue
        if len(frame) == 0:
            continue
        raise SpecRefused(column, "deid.missing_column", "is not in the input rows")
    return frame


def _factorize_columns(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the distinct combinations of several integer code arrays, and the first row of
    each combination (a multi-column factorize that stays in int64)."""
    n = len(arrays[0]) if arrays else 0
    key = np.zeros(n, dtype=np.int64)
    bound = 1
    for codes in arrays:
        cardinality = int(codes.max()) + 1 if n else 1
        if bound * cardinality >= 2**62:
            key = pd.factorize(key)[0].astype(np.int64)
            bound = int(key.max()) + 1
        key = key * cardinality + codes
        bound *= cardinality
    combo, _ = pd.factorize(key)
    first = np.full(int(combo.max()) + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, combo, np.arange(n, dtype=np.int64))
    return combo.astype(np.int64), first


def _codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Codes 0..m-1 and the distinct values (missing ones, NaN or None, become ``None``).

    Factorises in the column's own dtype (floats, categoricals, strings): converting a million
    values to Python objects first would cost more than the whole search."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    distinct = [None if _is_missing(v) else v for v in uniques]
    return np.asarray(codes, dtype=np.int64), distinct


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _bad_values(column: str, count: int, what: str) -> SpecRefused:
    # Counts only: a value is personal information and never goes into an error.
    return SpecRefused(column, "deid.value_type", f"{count} value(s) are not {what}")


def _base(qi: QuasiIdentifier, frame: pd.DataFrame, spec: DatasetSpec
          ) -> tuple[np.ndarray, list[Any]]:
    """Reduce a quasi-identifier column to base codes and their distinct base values."""
    if isinstance(qi, AddressQI):
        return _address_base(qi.column, frame)
    raw = frame[qi.column]
    if isinstance(qi, AgeQI):
        ages = _ages_from_birth_dates(qi.column, raw, spec.as_of) if qi.birth_date else (
            _numbers(qi.column, raw, "numbers (ages)"))
        if (ages.dropna() < 0).any():
            raise _bad_values(qi.column, int((ages.dropna() < 0).sum()), "ages of 0 or more")
        codes, distinct = _codes(np.floor(ages.to_numpy(dtype="float64")))
        return codes, [None if v is None else int(v) for v in distinct]
    if isinstance(qi, DateQI):
        when = _datetimes(qi.column, raw)
        months = (when.dt.year * 12 + when.dt.month - 1).astype("float64")
        codes, distinct = _codes(months.to_numpy(dtype="float64"))
        return codes, [None if v is None else f"{int(v) // 12:04d}-{int(v) % 12 + 1:02d}"
                       for v in distinct]
    if isinstance(qi, RangeQI):
        numbers = _numbers(qi.column, raw, "numbers")
        width = qi.widths[0]
        lows = np.floor(numbers / width + 1e-9) * width
        codes, distinct = _codes(lows.to_numpy(dtype="float64"))
        return codes, [None if v is None else float(v) for v in distinct]
    assert isinstance(qi, CategoryQI)
    codes, distinct = _codes(raw)
    return codes, [None if v is None else str(v) for v in distinct]


def _numbers(column: str, raw: pd.Series, what: str) -> pd.Series:
    numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = int((numbers.isna() & raw.notna()).sum())
    if bad:
        raise _bad_values(column, bad, what)
    if not np.isfinite(numbers.dropna()).all():
        raise _bad_values(column, int((~np.isfinite(numbers.dropna())).sum()), "finite numbers")
    return numbers


def _datetimes(column: str, raw: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw
    try:
        when = pd.to_datetime(raw, errors="coerce", format="mixed")
    except (ValueError, TypeError):  # e.g. a mix of time zones: compare them in UTC
        when = pd.to_datetime(raw, errors="coerce", format="mixed", utc=True)
    bad = int((when.isna() & raw.notna()).sum())
    if bad:
        raise _bad_values(column, bad, "dates")
    return when


def _ages_from_birth_dates(column: str, raw: pd.Series, as_of: date | None) -> pd.Series:
    assert as_of is not None  # check_spec requires it
    born = _datetimes(column, raw)
    before_birthday = (born.dt.month > as_of.month) | (
        (born.dt.month == as_of.month) & (born.dt.day > as_of.day)
    )
    return (as_of.year - born.dt.year - before_birthday.astype("float64")).astype("float64")


def _address_base(column: str, frame: pd.DataFrame) -> tuple[np.ndarray, list[Any]]:
    if column in frame.columns:
        parts = _address_parts(column, frame[column])
    else:
        parts = [frame[f"{column}_{p}"] for p in ADDRESS_PARTS]
    part_codes, part_values = [], []
    for series in parts:
        codes, distinct = _codes(series)
        part_codes.append(codes)
        part_values.append(distinct)
    combo, first = _factorize_columns(part_codes)
    distinct_values: list[Any] = []
    for row in first:
        triple = tuple(values[codes[row]] for values, codes in zip(part_values, part_codes,
                                                                     strict=True))
        distinct_values.append(None if any(v is None for v in triple)
                               else tuple(str(v) for v in triple))
    return combo, distinct_values


def _address_parts(column: str, values: pd.Series) -> list[pd.Series]:
    """Province, city, district of each structured address (the first of an address list)."""
    out: list[list[Any]] = [[], [], []]
    bad = 0
    for value in values:
        address = value[0] if isinstance(value, list) and value else value
        if isinstance(address, Mapping):
            for i, part in enumerate(ADDRESS_PARTS):
                out[i].append(address.get(part))
        else:
            bad += value is not None and not (isinstance(value, list) and not value)
            for i in range(3):
                out[i].append(None)
    if bad:
        raise _bad_values(column, bad, "structured addresses (province, city, district)")
    return [pd.Series(part, dtype=object) for part in out]


def _subject_ids(column: str, values: pd.Series) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    bad = 0
    for value in values:
        if isinstance(value, uuid.UUID):
            ids.append(value)
            continue
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            bad += 1
    if bad:
        raise _bad_values(column, bad, "subject ids")
    return ids


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def build_dataset(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    spec: DatasetSpec,
    pseudonymiser: Pseudonymiser | None,
) -> tuple[pd.DataFrame, DeidReport]:
    """The de-identified dataset and its report (see the module docstring for the contract).

    ``rows``: dicts read through the gate (or a frame with the same columns), each with the
    subject id in ``spec.subject_column`` when the spec asks for pseudonyms. Output columns are
    ``spec.columns``; quasi-identifiers are categorical text at the chosen level.
    Raises :class:`SpecRefused` (names the field) or :class:`TargetUnreachable`.
    """
    check_spec(spec)
    if spec.pseudonym_column and pseudonymiser is None:
        raise SpecRefused("pseudonym_column", "deid.pseudonymiser_required",
                          "a pseudonym column needs the recipient's pseudonymiser")
    frame = _frame(rows, spec)
    n = len(frame)
    if spec.subject_column in frame.columns:
        repeated = int(frame[spec.subject_column].duplicated().sum())
        if repeated:
            # k counts rows: k rows of one person would be a class of one.
            raise SpecRefused(spec.subject_column, "deid.one_row_per_subject",
                              f"{repeated} row(s) repeat a subject; k-anonymity counts rows, so "
                              "give one row per person (aggregate their orders first)")
    if n < spec.k:
        raise DeidError(f"k={spec.k} cannot be reached: the input has only {n} rows "
                        "[deid.too_few_rows]")

    columns: list[Column] = []
    row_codes: list[np.ndarray] = []
    for qi in spec.quasi_identifiers:
        codes, distinct = _base(qi, frame, spec)
        columns.append(build_column(qi, distinct))
        row_codes.append(codes)
    sensitive_codes = None
    if spec.sensitive:
        sensitive_codes, _ = _codes(frame[spec.sensitive])

    combo, first = _factorize_columns(
        row_codes + ([sensitive_codes] if sensitive_codes is not None else [])
    )
    table = FrequencyTable(
        codes=tuple(c[first] for c in row_codes),
        counts=np.bincount(combo, minlength=len(first)).astype(np.int64),
        sensitive=None if sensitive_codes is None else sensitive_codes[first],
    )
    result = search(columns, table, k=spec.k, l_diversity=spec.l_diversity,
                    max_suppression=spec.max_suppression)
    best = result.best

    keep_rows = best.kept[best.class_of[combo]]
    out: dict[str, Any] = {}
    if spec.pseudonym_column:
        assert pseudonymiser is not None
        kept_ids = frame[spec.subject_column].to_numpy(dtype=object)[keep_rows]
        out[spec.pseudonym_column] = pseudonymiser.many(
            _subject_ids(spec.subject_column, pd.Series(kept_ids, dtype=object))
        )
    for column, h, codes in zip(columns, best.node, row_codes, strict=True):
        level_codes = column.maps[h][codes[keep_rows]]
        out[column.name] = pd.Categorical.from_codes(level_codes, categories=column.labels[h])
    for name in ([spec.sensitive] if spec.sensitive else []) + list(spec.keep):
        out[name] = frame[name].to_numpy(dtype=object)[keep_rows]
    dataset = pd.DataFrame(out, columns=spec.columns)

    report = DeidReport(
        k_target=spec.k,
        l_target=spec.l_diversity,
        k_achieved=int(best.classes.counts[best.kept].min()),
        l_achieved=None if best.class_l is None else int(best.class_l[best.kept].min()),
        rows_in=n,
        rows_out=n - best.suppressed,
        suppressed=best.suppressed,
        suppression_rate=best.suppressed / n,
        max_suppression=spec.max_suppression,
        information_loss=best.loss,
        discernibility=discernibility(best, n),
        levels={c.name: c.level_names[h] for c, h in zip(columns, best.node, strict=True)},
        level_heights={c.name: h for c, h in zip(columns, best.node, strict=True)},
        sensitive=spec.sensitive,
        lattice_size=result.lattice_size,
        nodes_evaluated=result.evaluated,
        minimal_nodes=result.minimal_nodes,
    )
    return dataset, report


def record_dataset_release(
    session: Session,
    recipient_id: uuid.UUID,
    spec: DatasetSpec,
    report: DeidReport,
    *,
    purpose: str,
    now: datetime,
) -> DatasetRelease:
    """Keep the record of a dataset handed to a recipient: its spec and report, never its rows.

    Called by the transfer service in the transaction that logs the transfer (it does not
    commit). The record is what lets the platform answer "what did this recipient get, how
    protected" and warn about composition across releases (docs/anonymisation.md).
    """
    release = DatasetRelease(
        release_id=uuid.uuid4(),
        recipient_id=recipient_id,
        purpose=purpose,
        columns=spec.columns,
        report=report.as_dict(),
        rows=report.rows_out,
        k_achieved=report.k_achieved,
        l_achieved=report.l_achieved,
        released_at=now,
    )
    session.add(release)
    session.flush()
    return release
