"""The explanation document is about the person asking: what applies to them and why."""

from __future__ import annotations

from datetime import UTC, datetime

from privguard.consent.rules import State, Status
from privguard.policy.rules import PurposeSpec
from privguard.rights.explanation import explain_processing

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
PURPOSES = {
    "delivery": PurposeSpec("delivery", "essential.service", True, {"en": "Delivery"}),
    "marketing_sms": PurposeSpec("marketing_sms", "marketing", False, {"en": "SMS"}),
    "personalised_recommendation": PurposeSpec(
        "personalised_recommendation", "personalize", False, {"en": "Recs"},
        {"en": "ranked from your history"},
    ),
    "fraud_detection": PurposeSpec(
        "fraud_detection", "essential.service.fraud_detection", True, {"en": "Fraud"},
        {"en": "risk score, a person reviews"},
    ),
}
NOTICE = {
    "purposes": [
        {"name": "delivery", "fields": [{"name": "name"}, {"name": "shipping_addresses"}],
         "roles": [{"role": "courier"}], "legal_basis": {"basis": "contract"}},
        {"name": "personalised_recommendation", "fields": [{"name": "browsing_history"}]},
    ],
}


def _explain(states: dict[str, Status], held: list[str]) -> dict:  # type: ignore[type-arg]
    return explain_processing(notice=NOTICE, notice_version=3, purposes=PURPOSES,
                              states=states, held=held, generated_at=NOW)


def test_necessary_purposes_apply_and_consent_purposes_follow_the_ledger() -> None:
    granted = Status("purpose", "personalised_recommendation", State.GRANTED, NOW, 3)
    withdrawn = Status("purpose", "marketing_sms", State.WITHDRAWN, NOW, 3)
    doc = _explain({"purpose:personalised_recommendation": granted,
                    "purpose:marketing_sms": withdrawn}, ["name", "browsing_history"])
    by = {p["purpose"]: p for p in doc["purposes"]}
    assert by["delivery"]["applies"] and by["delivery"]["consent"]["state"] == "not_needed"
    assert by["personalised_recommendation"]["applies"]
    assert by["marketing_sms"]["applies"] is False
    assert by["marketing_sms"]["consent"]["state"] == "withdrawn"
    # Only fields this consumer actually has are listed as theirs.
    assert [f["name"] for f in by["delivery"]["your_fields"]] == ["name"]
    assert doc["notice_version"] == 3


def test_automated_decisions_say_how_to_opt_out_or_get_a_person() -> None:
    doc = _explain({}, ["browsing_history"])
    auto = {a["purpose"]: a for a in doc["automated_decisions"]}
    assert set(auto) == {"personalised_recommendation", "fraud_detection"}
    recs = auto["personalised_recommendation"]
    assert recs["applies"] is False  # never asked, so not applied to them
    assert recs["opt_out"] is not None and recs["your_fields_used"] == ["browsing_history"]
    assert auto["fraud_detection"]["opt_out"] is None and auto["fraud_detection"]["applies"]
    assert "PIPL Art. 24" in auto["fraud_detection"]["human_review"]["en"]
