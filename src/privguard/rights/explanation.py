"""The answer to an explanation request (PIPL Art. 48; Art. 24 for automated decisions): how
this platform processes *this* consumer's data, built from the notice in force, the policy and
the consumer's own consents and held fields.

Pure: the caller passes the notice document, the purposes of the policy, the consent states and
the names of the fields held; nothing here reads a database or a clock. The notice says what the
platform does to everyone; this says which of it applies to the person asking, and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from privguard.consent.rules import Kind, Status, topic
from privguard.policy.rules import PurposeSpec

FORMAT = "privguard.explanation/1"


def _consent(purpose: PurposeSpec, states: Mapping[str, Status]) -> dict[str, Any]:
    """Whether the purpose applies to this consumer now, and on what footing."""
    if purpose.necessary:
        return {"needed": False, "state": "not_needed", "since": None}
    status = states.get(topic(Kind.PURPOSE, purpose.name))
    if status is None:
        return {"needed": True, "state": "never_asked", "since": None}
    return {
        "needed": True,
        "state": status.state.value,
        "since": status.since.isoformat() if status.since else None,
    }


def explain_processing(
    *,
    notice: Mapping[str, Any] | None,
    notice_version: int | None,
    purposes: Mapping[str, PurposeSpec],
    states: Mapping[str, Status],
    held: Sequence[str],
    generated_at: datetime,
) -> dict[str, Any]:
    """One document, zh-CN and en side by side, that a consumer can read and keep.

    A purpose "applies" when the transaction needs it or the consumer's consent is current;
    for each purpose it lists the fields of this consumer it uses (those held), who may see
    them, and the legal basis from the notice. Automated decisions are listed with the
    policy's own explanation and how to ask for a person (PIPL Art. 24(3)).
    """
    by_name = {p["name"]: p for p in (notice or {}).get("purposes", [])}
    held_set = set(held)
    items: list[dict[str, Any]] = []
    automated: list[dict[str, Any]] = []
    for name, spec in purposes.items():
        consent = _consent(spec, states)
        applies = not consent["needed"] or consent["state"] == "granted"
        doc = by_name.get(name, {})
        fields = [f for f in doc.get("fields", []) if f.get("name") in held_set]
        items.append(
            {
                "purpose": name,
                "labels": dict(spec.labels),
                "necessary": spec.necessary,
                "applies": applies,
                "consent": consent,
                "legal_basis": doc.get("legal_basis"),
                "your_fields": fields,
                "who_may_see": doc.get("roles", []),
                "recipients": doc.get("recipients", []),
            }
        )
        if spec.automated:
            automated.append(
                {
                    "purpose": name,
                    "labels": dict(spec.labels),
                    "applies": applies,
                    "how_it_works": dict(spec.automated),
                    "your_fields_used": [f.get("name") for f in fields],
                    "opt_out": (
                        None
                        if spec.necessary
                        else {
                            "zh-CN": "撤回对该用途的同意即可关闭",
                            "en": "Withdraw your consent to this purpose to switch it off",
                        }
                    ),
                    "human_review": {
                        "zh-CN": "对仅通过自动化决策作出、对你权益有重大影响的决定，"
                        "你有权要求说明并拒绝（《个人信息保护法》第二十四条）",
                        "en": "For a decision made solely by automated means that significantly "
                        "affects you, you may ask for an explanation and refuse it "
                        "(PIPL Art. 24)",
                    },
                }
            )
    return {
        "format": FORMAT,
        "generated_at": generated_at.isoformat(),
        "notice_version": notice_version,
        "controller": (notice or {}).get("controller"),
        "officer": (notice or {}).get("officer"),
        "fields_held": list(held),
        "purposes": items,
        "automated_decisions": automated,
        "rights": (notice or {}).get("rights"),
    }
