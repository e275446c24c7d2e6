"""Differentially private aggregates (counts, sums, means by segment) through OpenDP, charged to
a per-recipient privacy budget that is kept in the database and refused when spent.

The seam is the same as for de-identified datasets (deid.py): :func:`release_aggregates` takes
rows already read through the gate and the recipient's id; the transfer service checks the
agreement and consent first. It takes the caller's session and does not commit.

How a release is computed and charged
-------------------------------------
* **Unit of privacy: a subject.** Each row carries its subject id; rows beyond
  ``max_rows_per_subject`` per subject are dropped (the first ones in input order are kept), so
  adding or removing one person changes at most ``c = max_rows_per_subject`` rows: OpenDP's
  ``d_in`` under the symmetric distance.
* **Segments are declared up front.** The query names the segment values to report (a public
  list, such as the provinces); rows of other segments are dropped and every declared segment
  gets an answer, even an empty one. Reporting whichever segments happen to occur in the data
  would itself disclose who is in it.
* **Each statistic is an OpenDP measurement** on one segment's rows: ``count`` is
  ``then_count() >> then_laplace`` (discrete Laplace on an integer); ``sum`` is
  ``then_clamp(bounds) >> then_sum() >> then_laplace`` (OpenDP accounts for floating-point
  rounding in the sum); ``mean`` is a noisy sum and a noisy count of the rows with a value, half
  the epsilon each, divided afterwards (post-processing costs nothing) and clamped to the bounds.
  Rows missing the value are left out of a sum or mean. The Laplace scale is found by OpenDP's
  ``binary_search_param`` so that the measurement's own privacy map certifies the epsilon.
* **Composition.** Segments partition the rows, and the Laplace privacy loss grows linearly in
  ``d_in``: a person's ``c`` rows spread over several segments cost at most ``c x map(1)`` in
  total, so a statistic over all segments is charged ``max(map(c), c * map(1))`` (parallel
  composition). Different statistics over the same rows add up (sequential composition). The
  charge is never above what the query asked for.
* **Only Laplace (pure epsilon-DP).** Budgets are a single epsilon per recipient; Gaussian noise
  would need (epsilon, delta) or zCDP accounting, which this ledger does not keep.

The budget row is locked (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` serialises
writers anyway), the remaining epsilon checked, the noise drawn, the spend and the release row
written in the caller's transaction. A refused release raises before writing anything.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import opendp.prelude as dp
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privguard.sharing.deid_rules import DIRECT_IDENTIFIERS
from privguard.sharing.dp_models import PrivacyBudget, PrivacyRelease

MECHANISM = "laplace"
MAX_SEGMENTS = 10_000
_EPS_TOLERANCE = 1e-12

StatisticKind = Literal["count", "sum", "mean"]


class DPError(ValueError):
    code = "dp_error"


class QueryRefused(DPError):
    """The query is not allowed or not well-formed; names the field and the rule."""

    code = "dp_query_refused"

    def __init__(self, field_name: str, rule: str, message: str) -> None:
        self.field = field_name
        self.rule = rule
        super().__init__(f"{field_name}: {message} [{rule}]")


class NoPrivacyBudget(DPError):
    code = "dp_no_budget"

    def __init__(self, recipient_id: uuid.UUID) -> None:
        self.recipient_id = recipient_id
        super().__init__(
            f"recipient {recipient_id} has no privacy budget; grant one before releasing "
            "differentially private statistics [dp.no_budget]"
        )


class PrivacyBudgetExceeded(DPError):
    code = "dp_budget_exceeded"

    def __init__(self, recipient_id: uuid.UUID, requested: float, remaining: float,
                 total: float) -> None:
        self.recipient_id = recipient_id
        self.requested = requested
        self.remaining = remaining
        self.total = total
        super().__init__(
            f"recipient {recipient_id} has epsilon {remaining:.6g} remaining of {total:.6g}; "
            f"this release needs {requested:.6g} [dp.budget_exceeded]"
        )


# --------------------------------------------------------------------------------------------
# Queries (pure)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    """One statistic per segment. ``bounds`` (for sum and mean) clamp each row's value: they are
    part of the query, chosen without looking at the data, and set the noise."""

    kind: StatisticKind
    epsilon: float
    column: str | None = None
    bounds: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        return self.kind if self.kind == "count" else f"{self.kind}({self.column})"


@dataclass(frozen=True)
class AggregateQuery:
    segment_by: str
    segments: tuple[str, ...]
    statistics: tuple[Statistic, ...]
    subject_column: str = "subject_id"
    max_rows_per_subject: int = 1


@dataclass(frozen=True)
class _Planned:
    statistic: Statistic
    epsilon: float  # charged
    scales: dict[str, float]  # part -> Laplace scale ("count", "sum")
    measure: Callable[[pd.Series, pd.Series], float] = field(repr=False)


@dataclass(frozen=True)
class Plan:
    query: AggregateQuery
    planned: tuple[_Planned, ...]

    @property
    def epsilon(self) -> float:
        return math.fsum(p.epsilon for p in self.planned)

    def describe(self) -> dict[str, Any]:
        """What is recorded for a release: the query and its noise, never data or answers."""
        q = self.query
        return {
            "segment_by": q.segment_by,
            "segments": list(q.segments),
            "max_rows_per_subject": q.max_rows_per_subject,
            "statistics": [
                {"kind": p.statistic.kind, "column": p.statistic.column,
                 "bounds": list(p.statistic.bounds) if p.statistic.bounds else None,
                 "epsilon": p.epsilon, "scales": p.scales}
                for p in self.planned
            ],
        }


def _check_query(query: AggregateQuery) -> None:
    if query.segment_by in DIRECT_IDENTIFIERS:
        raise QueryRefused(query.segment_by, "dp.direct_identifier",
                           "is a direct identifier: segments by it would describe single people")
    if not query.segments:
        raise QueryRefused("segments", "dp.segments_required",
                           "declare the segment values to report (a public list)")
    if len(query.segments) > MAX_SEGMENTS:
        raise QueryRefused("segments", "dp.too_many_segments",
                           f"at most {MAX_SEGMENTS} segments per release")
    if len(set(query.segments)) != len(query.segments):
        raise QueryRefused("segments", "dp.duplicate_segment", "each segment is named once")
    if not query.statistics:
        raise QueryRefused("statistics", "dp.statistics_required", "name at least one statistic")
    if not isinstance(query.max_rows_per_subject, int) or query.max_rows_per_subject < 1:
        raise QueryRefused("max_rows_per_subject", "dp.contributions",
                           "must be a whole number of at least 1")
    for i, s in enumerate(query.statistics):
        where = f"statistics[{i}]"
        if s.kind not in ("count", "sum", "mean"):
            raise QueryRefused(where, "dp.kind", "kind must be count, sum or mean")
        if not (isinstance(s.epsilon, int | float) and math.isfinite(s.epsilon)
                and s.epsilon > 0):
            raise QueryRefused(where, "dp.epsilon", "epsilon must be a positive number")
        if s.kind == "count":
            continue
        if not s.column:
            raise QueryRefused(where, "dp.column_required", f"a {s.kind} needs a column")
        if s.column in DIRECT_IDENTIFIERS:
            raise QueryRefused(s.column, "dp.direct_identifier", "is a direct identifier")
        if (s.bounds is None or len(s.bounds) != 2
                or not all(math.isfinite(float(b)) for b in s.bounds)
                or float(s.bounds[0]) >= float(s.bounds[1])):
            raise QueryRefused(where, "dp.bounds",
                               f"a {s.kind} needs finite bounds (lower, upper) with lower < upper")


def _calibrate(chain: Callable[[float], Any], epsilon: float, c: int) -> tuple[float, float]:
    """The smallest Laplace scale whose OpenDP privacy map certifies ``epsilon`` for ``c`` rows
    per subject across disjoint segments (charge ``max(map(c), c * map(1))``); returns
    (scale, charge)."""
    target = epsilon / c
    for _ in range(20):
        scale = dp.binary_search_param(chain, d_in=1, d_out=target)
        m = chain(scale)
        charge = max(float(m.map(c)), c * float(m.map(1)))
        if charge <= epsilon:
            return scale, charge
        target *= 1 - 1e-8  # float slop of the map: ask for a hair less and search again
    raise DPError(f"could not calibrate noise for epsilon {epsilon} [dp.calibration]")


@functools.cache
def _spaces() -> tuple[Any, Any]:
    """OpenDP's input spaces (vectors of floats, of labels) under the symmetric distance.

    Built on first use, not at import; OpenDP's measurements are behind its "contrib" flag until
    they are formally vetted, which this enables (process-wide, idempotent).
    """
    dp.enable_features("contrib")
    floats = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    labels = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    return floats, labels


def _count_chain(scale: float) -> Any:
    return _spaces()[1] >> dp.t.then_count() >> dp.m.then_laplace(scale=scale)


def _sum_chain(bounds: tuple[float, float]) -> Callable[[float], Any]:
    lo, hi = float(bounds[0]), float(bounds[1])

    def chain(scale: float) -> Any:
        return _spaces()[0] >> dp.t.then_clamp((lo, hi)) >> dp.t.then_sum() >> dp.m.then_laplace(
            scale=scale
        )

    return chain


def _plan_one(s: Statistic, c: int) -> _Planned:
    if s.kind == "count":
        scale, charge = _calibrate(_count_chain, float(s.epsilon), c)
        m = _count_chain(scale)
        return _Planned(s, charge, {"count": scale},
                        lambda labels, _values: float(m(labels.astype(str).tolist())))
    assert s.bounds is not None
    if s.kind == "sum":
        chain = _sum_chain(s.bounds)
        scale, charge = _calibrate(chain, float(s.epsilon), c)
        m = chain(scale)
        return _Planned(s, charge, {"sum": scale},
                        lambda _labels, values: float(m(values.dropna().astype(float).tolist())))
    chain = _sum_chain(s.bounds)
    sum_scale, sum_charge = _calibrate(chain, float(s.epsilon) / 2, c)
    count_scale, count_charge = _calibrate(_count_chain, float(s.epsilon) / 2, c)
    sum_m, count_m = chain(sum_scale), _count_chain(count_scale)
    lo, hi = float(s.bounds[0]), float(s.bounds[1])

    def mean(_labels: pd.Series, values: pd.Series) -> float:
        present = values.dropna().astype(float)
        total = float(sum_m(present.tolist()))
        n = float(count_m(["x"] * len(present)))
        return min(max(total / max(n, 1.0), lo), hi)

    return _Planned(s, sum_charge + count_charge, {"sum": sum_scale, "count": count_scale}, mean)


def plan_release(query: AggregateQuery) -> Plan:
    """Check the query and calibrate each statistic's noise; touches no data."""
    _check_query(query)
    c = query.max_rows_per_subject
    return Plan(query, tuple(_plan_one(s, c) for s in query.statistics))


def _prepare(rows: Iterable[Mapping[str, Any]] | pd.DataFrame, query: AggregateQuery
             ) -> pd.DataFrame:
    columns = {query.subject_column, query.segment_by} | {
        s.column for s in query.statistics if s.column
    }
    if isinstance(rows, pd.DataFrame):
        frame = rows
    else:
        frame = pd.DataFrame.from_records([{c: r.get(c) for c in columns} for r in rows])
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    for column in sorted(columns):
        if column not in frame.columns:
            raise QueryRefused(column, "dp.missing_column", "is not in the input rows")
    frame = frame[list(columns)]
    anonymous = int(frame[query.subject_column].isna().sum())
    if anonymous:
        raise QueryRefused(query.subject_column, "dp.subject_required",
                           f"{anonymous} row(s) have no subject id: "
                           "contributions cannot be bounded")
    # Bound each subject's contribution: keep the first c rows of each subject.
    rank = frame.groupby(frame[query.subject_column].astype(str), sort=False).cumcount()
    frame = frame[rank.to_numpy() < query.max_rows_per_subject]
    segment = frame[query.segment_by].astype(object).where(frame[query.segment_by].notna(), None)
    segment = segment.map(lambda v: None if v is None else str(v))
    frame = frame.assign(_segment=segment)
    for s in query.statistics:
        if s.column:
            values = pd.to_numeric(frame[s.column], errors="coerce")
            bad = int((values.isna() & frame[s.column].notna()).sum())
            if bad:
                raise QueryRefused(s.column, "dp.value_type", f"{bad} value(s) are not numbers")
            if not np.isfinite(values.dropna()).all():
                raise QueryRefused(s.column, "dp.value_type", "values must be finite numbers")
    return frame[frame["_segment"].isin(set(query.segments))]


def run_plan(plan: Plan, frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The noisy answers: segment -> statistic label -> value (draws fresh noise every call)."""
    groups = dict(tuple(frame.groupby("_segment", sort=False)))
    empty = frame.iloc[0:0]
    out: dict[str, dict[str, float]] = {}
    for segment in plan.query.segments:
        rows = groups.get(segment, empty)
        answers: dict[str, float] = {}
        for p in plan.planned:
            column = p.statistic.column
            values = pd.to_numeric(rows[column], errors="coerce") if column else rows["_segment"]
            answers[p.statistic.label] = p.measure(rows["_segment"], values)
        out[segment] = answers
    return out


# --------------------------------------------------------------------------------------------
# Budgets and releases (session; never commits)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    recipient_id: uuid.UUID
    epsilon_total: float
    epsilon_spent: float

    @property
    def remaining(self) -> float:
        return max(self.epsilon_total - self.epsilon_spent, 0.0)


@dataclass(frozen=True)
class DPRelease:
    release_id: uuid.UUID
    recipient_id: uuid.UUID
    epsilon: float
    remaining: float
    results: dict[str, dict[str, float]]
    query: dict[str, Any]


def _locked_budget(session: Session, recipient_id: uuid.UUID) -> PrivacyBudget | None:
    stmt = (
        select(PrivacyBudget)
        .where(PrivacyBudget.recipient_id == recipient_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def grant_budget(session: Session, recipient_id: uuid.UUID, epsilon_total: float, *,
                 now: datetime) -> BudgetStatus:
    """Set a recipient's total epsilon (create or change). A total below what is already spent is
    refused: spent privacy cannot be given back."""
    if not (math.isfinite(epsilon_total) and epsilon_total >= 0):
        raise QueryRefused("epsilon_total", "dp.epsilon", "must be a finite number of 0 or more")
    budget = _locked_budget(session, recipient_id)
    if budget is None:
        budget = PrivacyBudget(recipient_id=recipient_id, epsilon_total=float(epsilon_total),
                               epsilon_spent=0.0, created_at=now, updated_at=now)
        session.add(budget)
    else:
        if epsilon_total + _EPS_TOLERANCE < budget.epsilon_spent:
            raise QueryRefused(
                "epsilon_total", "dp.total_below_spent",
                f"recipient {recipient_id} has already spent {budget.epsilon_spent:.6g}",
            )
        budget.epsilon_total = float(epsilon_total)
        budget.updated_at = now
    session.flush()
    return BudgetStatus(recipient_id, budget.epsilon_total, budget.epsilon_spent)


def budget_status(session: Session, recipient_id: uuid.UUID) -> BudgetStatus | None:
    budget = session.get(PrivacyBudget, recipient_id, populate_existing=True)
    if budget is None:
        return None
    return BudgetStatus(recipient_id, budget.epsilon_total, budget.epsilon_spent)


def release_count(session: Session, recipient_id: uuid.UUID) -> int:
    return int(session.scalar(
        select(func.count()).select_from(PrivacyRelease)
        .where(PrivacyRelease.recipient_id == recipient_id)
    ) or 0)


def release_aggregates(
    session: Session,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    query: AggregateQuery,
    *,
    recipient_id: uuid.UUID,
    purpose: str,
    now: datetime,
) -> DPRelease:
    """Compute the query with differential privacy and charge it to the recipient's budget.

    Raises :class:`QueryRefused`, :class:`NoPrivacyBudget` or :class:`PrivacyBudgetExceeded`
    (naming the remaining epsilon) before anything is written.
    """
    plan = plan_release(query)
    frame = _prepare(rows, query)
    budget = _locked_budget(session, recipient_id)
    if budget is None:
        raise NoPrivacyBudget(recipient_id)
    remaining = budget.epsilon_total - budget.epsilon_spent
    if plan.epsilon > remaining + _EPS_TOLERANCE:
        raise PrivacyBudgetExceeded(recipient_id, plan.epsilon, max(remaining, 0.0),
                                    budget.epsilon_total)
    results = run_plan(plan, frame)
    budget.epsilon_spent = budget.epsilon_spent + plan.epsilon
    budget.updated_at = now
    release = PrivacyRelease(
        release_id=uuid.uuid4(), recipient_id=recipient_id, purpose=purpose,
        mechanism=MECHANISM, epsilon=plan.epsilon, query=plan.describe(), released_at=now,
    )
    session.add(release)
    session.flush()
    return DPRelease(release.release_id, recipient_id, plan.epsilon,
                     max(budget.epsilon_total - budget.epsilon_spent, 0.0), results,
                     plan.describe())
