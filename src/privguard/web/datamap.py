"""The data map's "who may see what", derived from the policy in force.

For each catalog field and each role, the widest view any rule grants that role for reading
the field, with the purposes and conditions of those rules. The gate's first matching rule
decides each real request, so this is what a role can see *at most*, and under which
conditions: an upper bound for a person to review, never an input to a decision.

Pure: a policy and a catalog in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from privguard.catalog.model import Catalog
from privguard.policy.rules import VIEW_RANK, Action, Policy, Role, View


@dataclass
class Reach:
    """What one role can reach of one field."""

    view: View = View.NONE
    purposes: set[str] = field(default_factory=set)
    conditions: set[str] = field(default_factory=set)  # e.g. "relationship merchant_order"
    rules: list[str] = field(default_factory=list)

    @property
    def conditional(self) -> bool:
        """True when every rule granting the widest view needs a relationship or consent."""
        return bool(self.conditions) and "always" not in self.conditions


def field_access(policy: Policy, catalog: Catalog) -> dict[str, dict[Role, Reach]]:
    """field -> role -> the widest read view granted, and by which purposes and rules.
    Roles with no read rule for a field are absent."""
    out: dict[str, dict[Role, Reach]] = {f.name: {} for f in catalog}
    for rule in policy.rules:
        if Action.READ not in rule.actions or rule.view is View.NONE:
            continue
        for name in rule.fields:
            if name not in out:
                continue
            for role in rule.roles:
                reach = out[name].setdefault(role, Reach())
                if VIEW_RANK[rule.view] > VIEW_RANK[reach.view]:
                    reach.view = rule.view
                    reach.conditions = set()
                if rule.view is reach.view:
                    reach.conditions.add(rule.when.describe())
                reach.purposes |= set(rule.purposes)
                reach.rules.append(rule.id)
    return out
