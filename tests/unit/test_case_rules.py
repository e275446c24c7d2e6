"""Case workflow, deadlines and merchant scoring as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from privguard.cases.rules import (
    CaseDeadlines,
    CaseTransitionRefused,
    Category,
    Queue,
    Record,
    Sanction,
    State,
    check_transition,
    due_dates,
    escalated,
    queue_of,
    rating,
    sanction_for,
    score,
    stricter,
)

NOW = datetime(2026, 11, 29, 9, tzinfo=UTC)


def test_commerce_complaints_go_to_their_own_queue() -> None:
    assert queue_of(Category.COUNTERFEIT) is Queue.COMMERCE
    assert queue_of(Category.AFTER_SALES) is Queue.COMMERCE
    assert all(queue_of(c) is Queue.PRIVACY for c in Category
               if c not in (Category.COUNTERFEIT, Category.AFTER_SALES))


def test_cases_move_forward_only() -> None:
    check_transition(State.RECEIVED, State.TRIAGED)
    check_transition(State.INVESTIGATING, State.RESOLVED)
    for bad in ((State.RECEIVED, State.RESOLVED), (State.RESOLVED, State.INVESTIGATING),
                (State.REJECTED, State.TRIAGED)):
        with pytest.raises(CaseTransitionRefused):
            check_transition(*bad)


def test_deadlines_escalate_open_cases_only() -> None:
    triage_by, resolve_by = due_dates(NOW, CaseDeadlines(triage_days=2, resolve_days=15))
    assert (triage_by - NOW, resolve_by - NOW) == (timedelta(days=2), timedelta(days=15))
    later = NOW + timedelta(days=3)
    assert escalated(State.RECEIVED, later, triage_by, resolve_by)
    assert not escalated(State.TRIAGED, later, triage_by, resolve_by)
    assert escalated(State.INVESTIGATING, NOW + timedelta(days=16), triage_by, resolve_by)
    assert not escalated(State.RESOLVED, NOW + timedelta(days=99), triage_by, resolve_by)


def test_score_grade_and_sanction_follow_the_record() -> None:
    assert score(Record()) == 100 and rating(100) == "A" and sanction_for(100) is Sanction.NONE
    one = score(Record(upheld_complaints=1))
    assert one == 85 and sanction_for(one) is Sanction.WARNING
    assert sanction_for(score(Record(upheld_complaints=2))) is Sanction.MASKED_ONLY
    assert sanction_for(score(Record(upheld_complaints=4))) is Sanction.SUSPENDED
    # Refusals alone are capped: a merchant whose staff hit the gate often is not suspended.
    assert score(Record(policy_denials=10_000)) == 85
    assert score(Record(upheld_complaints=9)) == 0 and rating(0) == "E"
    assert stricter(Sanction.WARNING, Sanction.SUSPENDED) is Sanction.SUSPENDED
