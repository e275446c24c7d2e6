"""``privguard policy check``: everything wrong or doubtful in a policy file.

Errors are what the loader refuses (unknown names, sensitive data shown plain beyond payment
and legal duties, non-necessary purposes without consent); warnings are what loads but is
probably a mistake: rules that can never fire, catalog fields no rule lets anyone read, roles
and purposes no rule mentions.
"""

from __future__ import annotations

from privguard.catalog.model import Catalog
from privguard.policy.loader import Problem, parse_policy
from privguard.policy.rules import WHOLE_ACTIONS, Action, Policy, Rule, View


def check_policy(text: str, catalog: Catalog, *, source: str) -> list[Problem]:
    policy, problems = parse_policy(text, catalog, source=source)
    if policy is None:
        return problems
    return problems + lint(policy, catalog)


def lint(policy: Policy, catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    for rule in policy.rules:
        shadow = _shadowed_by(policy, rule)
        if shadow is not None:
            problems.append(
                Problem(
                    "warning",
                    f"rule {rule.id}",
                    f"can never fire: {shadow} and always decide(s) for everything this "
                    "rule covers",
                )
            )
    readable = {
        f
        for r in policy.rules
        if Action.READ in r.actions and r.view is not View.NONE
        for f in r.fields
    }
    for spec in catalog:
        if spec.name not in readable:
            problems.append(Problem("warning", f"field {spec.name}", "no rule lets anyone read it"))
    used_roles = {role for r in policy.rules for role in r.roles}
    for role in policy.roles:
        if role not in used_roles:
            problems.append(Problem("warning", f"role {role.value}", "no rule mentions it"))
    used_purposes = {p for r in policy.rules for p in r.purposes}
    for purpose in policy.purposes:
        if purpose not in used_purposes:
            problems.append(Problem("warning", f"purpose {purpose}", "no rule mentions it"))
    for rule in policy.rules:
        if rule.view is View.PLAIN and Action.READ in rule.actions:
            exposed = sorted(f for f in rule.fields if catalog[f].sensitive)
            if exposed:
                problems.append(
                    Problem(
                        "warning",
                        f"rule {rule.id}",
                        f"shows sensitive fields {exposed} plain "
                        f"(allowed only for {', '.join(sorted(rule.purposes))}; check it is "
                        "needed)",
                    )
                )
    return problems


def _shadowed_by(policy: Policy, rule: Rule) -> str | None:
    """The earlier rules that decide every request this rule covers, if there are such."""
    blockers: dict[int, str] = {}
    for role in rule.roles:
        for action in rule.actions:
            targets = {"*"} if action in WHOLE_ACTIONS else rule.fields
            for purpose in rule.purposes:
                for field in targets:
                    # The first earlier rule that decides whenever this one could.
                    first = next(
                        (
                            r
                            for r in policy.candidates(role, action, purpose, field)
                            if r.position < rule.position
                            and (r.when.unconditional or r.when == rule.when)
                        ),
                        None,
                    )
                    if first is None:
                        return None
                    blockers[first.position] = first.id
    ids = [blockers[k] for k in sorted(blockers)]
    if not ids:
        return None
    return f"rule {ids[0]} comes first" if len(ids) == 1 else f"rules {', '.join(ids)} come first"
