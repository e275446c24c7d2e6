"""Per-recipient privacy budgets on SQLite and PostgreSQL: spent, refused when spent, a refused
release writes nothing, concurrent releases cannot overspend; dataset releases are recorded
without their rows."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from privguard.bootstrap import Runtime
from privguard.sharing import dp
from privguard.sharing.deid import build_dataset, record_dataset_release
from privguard.sharing.deid_rules import AgeQI, CategoryQI, DatasetSpec
from privguard.sharing.dp import (
    AggregateQuery,
    NoPrivacyBudget,
    PrivacyBudgetExceeded,
    QueryRefused,
    Statistic,
    budget_status,
    grant_budget,
    release_aggregates,
    release_count,
)
from privguard.sharing.dp_models import DatasetRelease, PrivacyRelease
from privguard.sharing.pseudonyms import pseudonymiser_for
from privguard.store.uow import unit_of_work
from tests.conftest import NOW

RECIPIENT = uuid.UUID("6f1d3c1e-7a43-4d5e-8a47-1f6d0b5e0001")
OTHER = uuid.UUID("6f1d3c1e-7a43-4d5e-8a47-1f6d0b5e0002")
SEGMENTS = ("广东省", "北京市", "四川省")


def data(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "subject_id": [uuid.UUID(int=i + 1) for i in range(n)],
        "province": rng.choice(list(SEGMENTS), n),
        "spend": np.round(rng.uniform(1, 900, n), 2),
    })


def query(epsilon_each: float) -> AggregateQuery:
    return AggregateQuery("province", SEGMENTS, (
        Statistic("count", epsilon_each),
        Statistic("mean", epsilon_each, "spend", (0.0, 1000.0)),
    ))


def grant(runtime: Runtime, recipient: uuid.UUID, total: float) -> None:
    with unit_of_work(runtime.sessions) as session:
        grant_budget(session, recipient, total, now=NOW)


def status(runtime: Runtime, recipient: uuid.UUID) -> tuple[float, float, int]:
    with unit_of_work(runtime.sessions) as session:
        s = budget_status(session, recipient)
        assert s is not None
        return s.epsilon_total, s.epsilon_spent, release_count(session, recipient)


def test_a_release_spends_the_budget_and_records_the_query_not_the_data(runtime: Runtime) -> None:
    grant(runtime, RECIPIENT, 1.0)
    rows = data()
    with unit_of_work(runtime.sessions) as session:
        release = release_aggregates(session, rows, query(0.2), recipient_id=RECIPIENT,
                                     purpose="market_research", now=NOW)
    assert set(release.results) == set(SEGMENTS)
    assert release.epsilon == pytest.approx(0.4, rel=1e-3) and release.epsilon <= 0.4
    assert release.remaining == pytest.approx(1.0 - release.epsilon)
    total, spent, count = status(runtime, RECIPIENT)
    assert (total, count) == (1.0, 1) and spent == pytest.approx(release.epsilon)
    with unit_of_work(runtime.sessions) as session:
        row = session.scalars(select(PrivacyRelease)).one()
        assert (row.recipient_id, row.purpose, row.mechanism) == (
            RECIPIENT, "market_research", "laplace")
        assert row.released_at == NOW and row.epsilon == pytest.approx(release.epsilon)
        stored = str(row.query)
    for value in (str(rows.subject_id[0]), f"{rows.spend[0]}",
                  *(f"{v:.3f}" for r in release.results.values() for v in r.values())):
        assert value not in stored  # neither input rows nor the noisy answers


def test_a_release_beyond_the_budget_is_refused_naming_the_remaining_epsilon_and_writes_nothing(
    runtime: Runtime,
) -> None:
    grant(runtime, RECIPIENT, 1.0)
    with unit_of_work(runtime.sessions) as session:
        first = release_aggregates(session, data(), query(0.3), recipient_id=RECIPIENT,
                                   purpose="market_research", now=NOW)
    remaining = 1.0 - first.epsilon
    # The caller commits even on refusal (as the API does for logged refusals): still nothing.
    with (
        pytest.raises(PrivacyBudgetExceeded) as info,
        unit_of_work(runtime.sessions, commit_on=(PrivacyBudgetExceeded,)) as session,
    ):
        release_aggregates(session, data(), query(0.3), recipient_id=RECIPIENT,
                           purpose="market_research", now=NOW)
    assert info.value.remaining == pytest.approx(remaining)
    assert f"{remaining:.6g}" in str(info.value) and str(RECIPIENT) in str(info.value)
    _, spent, count = status(runtime, RECIPIENT)
    assert spent == pytest.approx(first.epsilon) and count == 1
    # What is left can still be spent.
    with unit_of_work(runtime.sessions) as session:
        last = release_aggregates(session, data(), query(remaining / 2 * 0.999),
                                  recipient_id=RECIPIENT, purpose="market_research", now=NOW)
    assert last.remaining < 0.01
    assert status(runtime, RECIPIENT)[2] == 2


def test_recipients_have_separate_budgets_and_none_means_no_release(runtime: Runtime) -> None:
    grant(runtime, RECIPIENT, 0.5)
    with (
        pytest.raises(NoPrivacyBudget, match="no privacy budget"),
        unit_of_work(runtime.sessions) as session,
    ):
        release_aggregates(session, data(), query(0.1), recipient_id=OTHER,
                           purpose="market_research", now=NOW)
    grant(runtime, OTHER, 0.5)
    with unit_of_work(runtime.sessions) as session:
        release_aggregates(session, data(), query(0.2), recipient_id=OTHER,
                           purpose="market_research", now=NOW)
    assert status(runtime, RECIPIENT)[1:] == (0.0, 0)
    assert status(runtime, OTHER)[2] == 1


def test_a_budget_cannot_be_lowered_below_what_was_spent(runtime: Runtime) -> None:
    grant(runtime, RECIPIENT, 1.0)
    with unit_of_work(runtime.sessions) as session:
        release_aggregates(session, data(), query(0.25), recipient_id=RECIPIENT,
                           purpose="market_research", now=NOW)
    with pytest.raises(QueryRefused) as info, unit_of_work(runtime.sessions) as session:
        grant_budget(session, RECIPIENT, 0.2, now=NOW)
    assert info.value.rule == "dp.total_below_spent"
    grant(runtime, RECIPIENT, 2.0)  # raising it is fine
    assert status(runtime, RECIPIENT)[0] == 2.0


def test_concurrent_releases_cannot_overspend(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six releases of 0.4 race for a budget of 1.0: exactly two may go. Each holds its
    transaction open for a while after checking the budget, so without the row lock (or
    SQLite's single writer) all six would read "nothing spent" and all would pass."""
    grant(runtime, RECIPIENT, 1.0)
    slow_run = dp.run_plan

    def run_slowly(*args: Any) -> Any:
        time.sleep(0.3)
        return slow_run(*args)

    monkeypatch.setattr(dp, "run_plan", run_slowly)
    rows = data(200)
    start = threading.Barrier(6)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        try:
            with unit_of_work(runtime.sessions) as session:
                release_aggregates(session, rows, query(0.2), recipient_id=RECIPIENT,
                                   purpose="market_research", now=NOW)
            result = "released"
        except PrivacyBudgetExceeded:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * 4 + ["released"] * 2
    total, spent, count = status(runtime, RECIPIENT)
    assert count == 2 and spent <= total
    with unit_of_work(runtime.sessions) as session:
        recorded = session.scalar(select(func.sum(PrivacyRelease.epsilon)))
    assert recorded == pytest.approx(spent)


def test_a_dataset_release_is_recorded_with_its_report_and_no_rows(runtime: Runtime) -> None:
    rng = np.random.default_rng(3)
    rows = pd.DataFrame({
        "subject_id": [uuid.UUID(int=i + 1) for i in range(500)],
        "age": rng.integers(18, 70, 500),
        "gender": rng.choice(["male", "female"], 500),
    })
    spec = DatasetSpec((AgeQI("age"), CategoryQI("gender")), k=5)
    dataset, report = build_dataset(rows, spec, pseudonymiser_for(runtime.keys, RECIPIENT))
    with unit_of_work(runtime.sessions) as session:
        record_dataset_release(session, RECIPIENT, spec, report, purpose="market_research",
                               now=NOW)
    with unit_of_work(runtime.sessions) as session:
        stored = session.scalars(select(DatasetRelease)).one()
        assert stored.recipient_id == RECIPIENT and stored.rows == len(dataset)
        assert stored.k_achieved == report.k_achieved >= 5
        assert stored.report["levels"] == report.levels
        assert stored.columns == ["pid", "age", "gender"]
        text = str(stored.report) + str(stored.columns)
    assert not any(pid in text for pid in dataset["pid"])
