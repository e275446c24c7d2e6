"""Differentially private aggregates without a database: calibration, refusals, bounding.

The budget ledger (SQLite and PostgreSQL) is tested in tests/integration/test_dp_budget.py.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from privguard.sharing.deid_rules import DIRECT_IDENTIFIERS
from privguard.sharing.dp import (
    AggregateQuery,
    QueryRefused,
    Statistic,
    _prepare,
    plan_release,
    run_plan,
)

SEGMENTS = ("north", "south", "empty")


def rows(n_subjects: int, rows_each: int = 1, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subjects = [uuid.UUID(int=i + 1) for i in range(n_subjects)]
    return pd.DataFrame({
        "subject_id": [s for s in subjects for _ in range(rows_each)],
        "region": rng.choice(["north", "south", "elsewhere"], n_subjects * rows_each,
                             p=[0.5, 0.3, 0.2]),
        "spend": rng.uniform(0, 1000, n_subjects * rows_each),
    })


def answer(query: AggregateQuery, data: pd.DataFrame) -> dict[str, dict[str, float]]:
    plan = plan_release(query)
    return run_plan(plan, _prepare(data, query))


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("epsilon", [0.1, 1.0, 2.5])
def test_each_statistic_is_charged_what_opendp_certifies_never_more_than_asked(
    epsilon: float, c: int
) -> None:
    query = AggregateQuery(
        "region", SEGMENTS,
        (Statistic("count", epsilon), Statistic("sum", epsilon, "spend", (0.0, 1000.0)),
         Statistic("mean", epsilon, "spend", (0.0, 1000.0))),
        max_rows_per_subject=c,
    )
    plan = plan_release(query)
    for p in plan.planned:
        assert epsilon * 0.999 <= p.epsilon <= epsilon
    assert plan.epsilon == pytest.approx(3 * epsilon, rel=1e-3)
    assert plan.epsilon <= 3 * epsilon
    # More rows per subject -> a person moves the answer more -> more noise for the same epsilon.
    count_scale = plan.planned[0].scales["count"]
    assert count_scale == pytest.approx(c / epsilon, rel=0.01)
    assert plan.planned[1].scales["sum"] == pytest.approx(c * 1000.0 / epsilon, rel=0.01)


def test_answers_are_close_to_the_truth_with_a_large_epsilon_and_noisy_with_a_small_one() -> None:
    data = rows(4000)
    truth = data[data.region == "north"]
    generous = AggregateQuery("region", SEGMENTS, (
        Statistic("count", 50.0), Statistic("sum", 50.0, "spend", (0.0, 1000.0)),
        Statistic("mean", 50.0, "spend", (0.0, 1000.0))))
    out = answer(generous, data)["north"]
    assert abs(out["count"] - len(truth)) <= 2
    assert abs(out["sum(spend)"] - truth.spend.sum()) <= 500
    assert abs(out["mean(spend)"] - truth.spend.mean()) <= 5
    stingy = AggregateQuery("region", SEGMENTS, (Statistic("count", 0.05),))
    draws = [answer(stingy, data)["north"]["count"] for _ in range(30)]
    assert len(set(draws)) >= 10  # fresh noise every release
    assert np.std(draws) > 5  # Laplace scale 20 -> std ~28


def test_every_declared_segment_is_answered_and_undeclared_ones_are_not() -> None:
    query = AggregateQuery("region", SEGMENTS, (Statistic("count", 20.0),))
    out = answer(query, rows(2000))
    assert set(out) == set(SEGMENTS)  # "empty" has no rows and still gets a (noisy) answer
    assert abs(out["empty"]["count"]) <= 3
    assert "elsewhere" not in out


def test_rows_beyond_the_contribution_bound_are_dropped() -> None:
    data = rows(500, rows_each=10)
    query = AggregateQuery("region", ("north", "south", "elsewhere"),
                           (Statistic("count", 50.0),), max_rows_per_subject=2)
    out = answer(query, data)
    assert abs(sum(v["count"] for v in out.values()) - 500 * 2) <= 10


def test_means_stay_inside_the_bounds() -> None:
    query = AggregateQuery("region", ("north",),
                           (Statistic("mean", 0.01, "spend", (0.0, 1000.0)),))
    for _ in range(20):
        assert 0.0 <= answer(query, rows(50))["north"]["mean(spend)"] <= 1000.0


@pytest.mark.parametrize("identifier", sorted(DIRECT_IDENTIFIERS - {"subject_id"}))
def test_segments_or_sums_over_direct_identifiers_are_refused(identifier: str) -> None:
    with pytest.raises(QueryRefused) as info:
        plan_release(AggregateQuery(identifier, ("a",), (Statistic("count", 1.0),)))
    assert info.value.field == identifier and info.value.rule == "dp.direct_identifier"
    with pytest.raises(QueryRefused) as info:
        plan_release(AggregateQuery("region", ("a",),
                                    (Statistic("sum", 1.0, identifier, (0.0, 1.0)),)))
    assert info.value.field == identifier


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        (AggregateQuery("region", (), (Statistic("count", 1.0),)), "segments",
         "dp.segments_required"),
        (AggregateQuery("region", ("a", "a"), (Statistic("count", 1.0),)), "segments",
         "dp.duplicate_segment"),
        (AggregateQuery("region", ("a",), ()), "statistics", "dp.statistics_required"),
        (AggregateQuery("region", ("a",), (Statistic("count", 0.0),)), "statistics[0]",
         "dp.epsilon"),
        (AggregateQuery("region", ("a",), (Statistic("count", float("inf")),)), "statistics[0]",
         "dp.epsilon"),
        (AggregateQuery("region", ("a",), (Statistic("sum", 1.0, "spend"),)), "statistics[0]",
         "dp.bounds"),
        (AggregateQuery("region", ("a",), (Statistic("mean", 1.0, "spend", (5.0, 1.0)),)),
         "statistics[0]", "dp.bounds"),
        (AggregateQuery("region", ("a",), (Statistic("sum", 1.0, None, (0.0, 1.0)),)),
         "statistics[0]", "dp.column_required"),
        (AggregateQuery("region", ("a",), (Statistic("count", 1.0),), max_rows_per_subject=0),
         "max_rows_per_subject", "dp.contributions"),
    ],
)
def test_malformed_queries_are_refused_naming_the_field(
    query: AggregateQuery, field: str, rule: str
) -> None:
    with pytest.raises(QueryRefused) as info:
        plan_release(query)
    assert (info.value.field, info.value.rule) == (field, rule)


def test_rows_without_a_subject_cannot_be_bounded_and_are_refused() -> None:
    data = rows(10)
    data.loc[3, "subject_id"] = None
    query = AggregateQuery("region", SEGMENTS, (Statistic("count", 1.0),))
    with pytest.raises(QueryRefused) as info:
        _prepare(data, query)
    assert info.value.field == "subject_id" and "1 row(s)" in str(info.value)
