"""Which API key a request offers (actors/service.py): the one parser behind authentication, the
rate limit's bucket and the refusal log's key id."""

from __future__ import annotations

import pytest

from privguard.actors.service import offered_token


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": "Bearer pgk_a.s"}, "pgk_a.s"),
        ({"authorization": "bearer   pgk_a.s  "}, "pgk_a.s"),  # scheme in any case, padded
        ({"authorization": "BEARER pgk_a.s"}, "pgk_a.s"),
        ({"x-api-key": " pgk_b.s "}, "pgk_b.s"),
        # The bearer header wins over X-API-Key when both are sent.
        ({"authorization": "Bearer pgk_a.s", "x-api-key": "pgk_b.s"}, "pgk_a.s"),
        # Another scheme, or a bearer header without credentials, is not a key: X-API-Key is.
        ({"authorization": "Basic dXNlcjpwdw==", "x-api-key": "pgk_b.s"}, "pgk_b.s"),
        ({"authorization": "Bearer ", "x-api-key": "pgk_b.s"}, "pgk_b.s"),
        ({"authorization": "Bearer"}, None),
        ({"authorization": "Basic dXNlcjpwdw=="}, None),
        ({"x-api-key": "   "}, None),
        ({}, None),
    ],
)
def test_offered_token(headers: dict[str, str], expected: str | None) -> None:
    assert offered_token(headers) == expected
