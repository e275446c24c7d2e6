"""Which way a data-subject request may move (PIPL Art. 50: a refusal says why)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from privguard.rights.lifecycle import (
    ALLOWED,
    CLOSED,
    ReasonRequired,
    RequestState,
    TransitionRefused,
    check_transition,
    is_open,
)

S = RequestState


@pytest.mark.parametrize(
    ("path"),
    [
        [S.RECEIVED, S.VERIFYING, S.IN_PROGRESS, S.COMPLETED],
        [S.RECEIVED, S.VERIFYING, S.IN_PROGRESS, S.PARTIALLY_COMPLETED],
        [S.RECEIVED, S.REFUSED],
        [S.RECEIVED, S.VERIFYING, S.WITHDRAWN],
    ],
)
def test_the_ordinary_paths(path: list[RequestState]) -> None:
    for current, wanted in pairwise(path):
        check_transition(current, wanted, reason="because")
    assert not is_open(path[-1])


def test_verification_cannot_be_skipped_and_closed_requests_stay_closed() -> None:
    with pytest.raises(TransitionRefused, match="received cannot become in_progress"):
        check_transition(S.RECEIVED, S.IN_PROGRESS)
    with pytest.raises(TransitionRefused):
        check_transition(S.RECEIVED, S.COMPLETED)
    for closed in CLOSED:
        for wanted in S:
            with pytest.raises(TransitionRefused):
                check_transition(closed, wanted, reason="x")
    assert set(ALLOWED) | CLOSED == set(S)


@pytest.mark.parametrize("to", [S.REFUSED, S.PARTIALLY_COMPLETED])
def test_refusing_or_doing_part_needs_a_reason(to: RequestState) -> None:
    with pytest.raises(ReasonRequired, match="must say why"):
        check_transition(S.IN_PROGRESS, to, reason="  ")
    check_transition(S.IN_PROGRESS, to, reason="交易记录依法保存三年（电子商务法第三十一条）")
