"""Why a request would be allowed or denied: the rule chain for one (role, action, purpose,
field), in the order the gate walks it. Pure, so the API, the CLI and the console share it."""

from __future__ import annotations

from dataclasses import dataclass

from privguard.policy.rules import Action, Facts, Policy, Role, View


@dataclass(frozen=True)
class Step:
    rule: str
    position: int
    view: View
    conditions: str
    holds: bool | None  # None when no facts were given (a hypothetical request)
    decides: bool
    reason: str


@dataclass(frozen=True)
class Explanation:
    role: Role
    action: Action
    purpose: str
    field: str
    requested: View
    facts: Facts | None
    chain: list[Step]
    outcome: str  # one sentence
    view: View | None  # the view granted, when facts were given
    rule: str | None


def explain(
    policy: Policy,
    role: Role,
    action: Action,
    purpose: str,
    field: str,
    requested: View = View.PLAIN,
    facts: Facts | None = None,
) -> Explanation:
    """With ``facts``, the exact decision the gate would make; without, every way it could go."""
    candidates = policy.candidates(role, action, purpose, field)
    chain: list[Step] = []
    decided = False
    for rule in candidates:
        holds = None if facts is None else rule.when.holds(facts, purpose)
        decides = bool(holds) and not decided
        decided = decided or decides
        chain.append(
            Step(
                rule.id, rule.position, rule.view, rule.when.describe(), holds, decides, rule.reason
            )
        )
    if facts is not None:
        decision = policy.decide(role, action, purpose, field, requested, facts)
        verdict = "allowed" if decision.allowed else "denied"
        outcome = f"{verdict}: view {decision.view.value} by rule {decision.rule}"
        return Explanation(
            role,
            action,
            purpose,
            field,
            requested,
            facts,
            chain,
            outcome,
            decision.view,
            decision.rule,
        )
    deny = policy.default_deny(role, action, purpose, field)
    if not candidates:
        outcome = f"always denied (rule {deny.rule}): {deny.reason}"
    else:
        parts = [f"{s.rule} grants {s.view.value} if {s.conditions}" for s in chain]
        outcome = "the first that holds decides: " + "; else ".join(parts)
        if not any(s.conditions == "always" for s in chain):
            outcome += f"; else denied ({deny.rule})"
    return Explanation(role, action, purpose, field, requested, None, chain, outcome, None, None)
