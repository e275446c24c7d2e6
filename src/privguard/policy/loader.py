"""Load, check and compile the policy YAML: the shipped one, or a file named in settings.

Every name (role, purpose, action, field, category, relationship) is checked against the code
and the catalog at load, so a typo stops start-up with a message naming it, instead of silently
denying (or allowing) at the first request. The result is indexed by (role, action, purpose,
field) so a decision is one dictionary lookup and a short loop.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from privguard.catalog.model import Catalog
from privguard.policy.rules import (
    WHOLE_ACTIONS,
    Action,
    Conditions,
    Key,
    Policy,
    PurposeSpec,
    Relationship,
    Role,
    RoleSpec,
    Rule,
    Scope,
    View,
    Windows,
)
from privguard.yaml_files import parse_yaml

FORMAT_VERSION = 1
RULE_ID = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$")
PURPOSE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
FIDES_USE = re.compile(r"^[a-z_]+(\.[a-z_]+)*$")
PIA_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# Sensitive PI (PIPL Art. 28) is never shown plain except to charge a payment or meet a legal
# duty (issue 3); the loader refuses a policy that would.
PLAIN_SENSITIVE_PURPOSES = frozenset({"payment_processing", "legal_obligation"})


@dataclass(frozen=True)
class Problem:
    """One finding about a policy file: ``error`` stops loading, ``warning`` is for the linter."""

    severity: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


class PolicyError(ValueError):
    """The policy file is invalid; the message names the rule and the problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid policy: " + "; ".join(str(p) for p in problems))


def shipped_policy_text() -> str:
    return resources.files("privguard.policy").joinpath("policy.yaml").read_text("utf-8")


def load_policy(path: Path | None, catalog: Catalog) -> Policy:
    """The policy at ``path`` (or the shipped one), or :class:`PolicyError` listing every error."""
    try:
        text = path.read_text("utf-8") if path is not None else shipped_policy_text()
    except OSError as exc:
        problem = Problem("error", str(path), f"cannot read the policy file ({exc.strerror})")
        raise PolicyError([problem]) from None
    policy, problems = parse_policy(text, catalog, source=str(path or "shipped policy.yaml"))
    errors = [p for p in problems if p.severity == "error"]
    if errors or policy is None:
        raise PolicyError(errors or problems)
    return policy


def parse_policy(
    text: str, catalog: Catalog, *, source: str
) -> tuple[Policy | None, list[Problem]]:
    """Parse and check; returns the policy (None if it cannot be built) and every problem."""
    problems: list[Problem] = []

    def err(where: str, message: str) -> None:
        problems.append(Problem("error", where, message))

    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark is not None else "file"
        return None, [Problem("error", at, f"not valid YAML ({getattr(exc, 'problem', exc)})")]
    if not isinstance(raw, dict):
        return None, [Problem("error", "file", "must be a mapping with roles, purposes, rules")]
    unknown = set(raw) - {"version", "windows", "roles", "purposes", "rules"}
    if unknown:
        err("file", f"unknown top-level keys {sorted(unknown)}")
    if raw.get("version") != FORMAT_VERSION:
        err("version", f"must be {FORMAT_VERSION}")

    windows = _windows(raw.get("windows"), err)
    roles = _roles(raw.get("roles"), err)
    purposes = _purposes(raw.get("purposes"), err)
    rules = _rules(raw.get("rules"), catalog, roles, purposes, err)
    if any(p.severity == "error" for p in problems):
        return None, problems
    policy = Policy(
        roles=roles,
        purposes=purposes,
        rules=rules,
        windows=windows,
        source=source,
        index=compile_index(rules),
    )
    return policy, problems


def compile_index(rules: list[Rule]) -> dict[Key, tuple[Rule, ...]]:
    index: dict[Key, list[Rule]] = defaultdict(list)
    for rule in rules:
        for role in rule.roles:
            for action in rule.actions:
                targets = {"*"} if action in WHOLE_ACTIONS else rule.fields
                for purpose in rule.purposes:
                    for name in targets:
                        index[(role, action, purpose, name)].append(rule)
    return {k: tuple(v) for k, v in index.items()}


def _windows(raw: Any, err: Any) -> Windows:
    defaults = {"after_sales_days": 15, "courier_grace_hours": 24, "undelivered_days": 30}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        err("windows", "must be a mapping")
        raw = {}
    unknown = set(raw) - set(defaults)
    if unknown:
        err("windows", f"unknown keys {sorted(unknown)}")
    values = {**defaults, **{k: v for k, v in raw.items() if k in defaults}}
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            err(f"windows.{key}", "must be a whole number >= 0")
            values[key] = defaults[key]
    return Windows(
        after_sales=timedelta(days=values["after_sales_days"]),
        courier_grace=timedelta(hours=values["courier_grace_hours"]),
        undelivered=timedelta(days=values["undelivered_days"]),
    )


def _roles(raw: Any, err: Any) -> dict[Role, RoleSpec]:
    out: dict[Role, RoleSpec] = {}
    if not isinstance(raw, dict) or not raw:
        err("roles", "must be a non-empty mapping of role name to {scope, description}")
        return out
    for name, spec in raw.items():
        where = f"roles.{name}"
        try:
            role = Role(name)
        except ValueError:
            err(where, f"unknown role; known roles: {', '.join(r.value for r in Role)}")
            continue
        if not isinstance(spec, dict):
            err(where, "must be a mapping")
            continue
        try:
            scope = Scope(spec.get("scope"))
        except ValueError:
            err(where, f"scope must be one of {', '.join(s.value for s in Scope)}")
            continue
        out[role] = RoleSpec(role, scope, str(spec.get("description", "")))
    missing = set(Role) - set(out)
    if missing and out:
        err("roles", f"every role must be declared; missing {sorted(r.value for r in missing)}")
    return out


def _purposes(raw: Any, err: Any) -> dict[str, PurposeSpec]:
    out: dict[str, PurposeSpec] = {}
    if not isinstance(raw, dict) or not raw:
        err("purposes", "must be a non-empty mapping of purpose name to {fides, necessary, label}")
        return out
    for name, spec in raw.items():
        where = f"purposes.{name}"
        if not isinstance(name, str) or not PURPOSE_NAME.match(name):
            err(where, "name must match [a-z][a-z0-9_]*")
            continue
        if not isinstance(spec, dict):
            err(where, "must be a mapping")
            continue
        unknown = set(spec) - {"fides", "necessary", "label", "automated", "pia"}
        if unknown:
            err(where, f"unknown keys {sorted(unknown)}")
        fides = spec.get("fides")
        if not isinstance(fides, str) or not FIDES_USE.match(fides):
            err(where, "fides must be a Fides data-use key such as essential.service.operations")
            continue
        necessary = spec.get("necessary")
        if not isinstance(necessary, bool):
            err(where, "necessary must be true (the transaction needs it) or false (consent)")
            continue
        labels = spec.get("label") or {}
        if not isinstance(labels, dict):
            err(where, "label must map locale to text")
            labels = {}
        automated = spec.get("automated")
        if automated is not None and (
            not isinstance(automated, dict)
            or not automated
            or not all(isinstance(v, str) and v.strip() for v in automated.values())
        ):
            err(where, "automated must map locale to the text explaining the automated decision")
            automated = None
        pia = spec.get("pia")
        if pia is not None and not (isinstance(pia, str) and PIA_ID.match(pia)):
            err(where, "pia must be the id (a UUID) of an impact assessment: "
                "see `privguard report pia list`")
            pia = None
        out[name] = PurposeSpec(
            name,
            fides,
            necessary,
            {str(k): str(v) for k, v in labels.items()},
            {str(k): " ".join(str(v).split()) for k, v in automated.items()} if automated else None,
            pia=pia.lower() if pia else None,
        )
    return out


RULE_KEYS = {
    "id",
    "roles",
    "actions",
    "purposes",
    "fields",
    "categories",
    "view",
    "when",
    "reason",
}


def _names(value: Any) -> list[str] | None:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return None


def _rules(
    raw: Any,
    catalog: Catalog,
    roles: dict[Role, RoleSpec],
    purposes: dict[str, PurposeSpec],
    err: Any,
) -> list[Rule]:
    out: list[Rule] = []
    if not isinstance(raw, list):
        err("rules", "must be a list of rules")
        return out
    seen: set[str] = set()
    for position, spec in enumerate(raw):
        where = f"rules[{position}]"
        if not isinstance(spec, dict):
            err(where, "must be a mapping")
            continue
        rule_id = spec.get("id")
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            err(where, "id must look like group.name (lower case, dots, dashes)")
            continue
        where = f"rule {rule_id}"
        if rule_id in seen:
            err(where, "duplicate id")
        seen.add(rule_id)
        unknown = set(spec) - RULE_KEYS
        if unknown:
            err(where, f"unknown keys {sorted(unknown)}")
        rule = _rule(spec, rule_id, position, where, catalog, roles, purposes, err)
        if rule is not None:
            out.append(rule)
    return out


def _rule(
    spec: dict[str, Any],
    rule_id: str,
    position: int,
    where: str,
    catalog: Catalog,
    roles: dict[Role, RoleSpec],
    purposes: dict[str, PurposeSpec],
    err: Any,
) -> Rule | None:
    ok = True
    role_names = _names(spec.get("roles"))
    rule_roles: set[Role] = set()
    if role_names is None:
        err(where, "roles must be a non-empty list")
        ok = False
    for name in role_names or []:
        try:
            role = Role(name)
        except ValueError:
            err(where, f"unknown role {name!r}")
            ok = False
            continue
        if role not in roles:
            err(where, f"role {name!r} is not declared under roles")
            ok = False
        rule_roles.add(role)

    purpose_names = _names(spec.get("purposes"))
    if purpose_names is None:
        err(where, "purposes must be a non-empty list")
        ok = False
    for name in purpose_names or []:
        if name not in purposes:
            err(where, f"unknown purpose {name!r}")
            ok = False

    action_names = _names(spec.get("actions", ["read"]))
    actions: set[Action] = set()
    if action_names is None:
        err(where, "actions must be a non-empty list")
        ok = False
    for name in action_names or []:
        try:
            actions.add(Action(name))
        except ValueError:
            err(where, f"unknown action {name!r}; known: {', '.join(a.value for a in Action)}")
            ok = False
    whole = actions & WHOLE_ACTIONS
    per_field = actions - WHOLE_ACTIONS

    for key in ("fields", "categories"):
        if key in spec and _names(spec[key]) is None:
            err(where, f"{key} must be a non-empty list of names, e.g. [name, mobile_phone]")
            return None
    fields: set[str] = set()
    for name in spec.get("fields") or []:
        if name not in catalog:
            err(where, f"unknown field {name!r} (not in the catalog)")
            ok = False
        fields.add(name)
    for prefix in spec.get("categories") or []:
        matched = [
            f.name for f in catalog if f.category == prefix or f.category.startswith(prefix + ".")
        ]
        if not matched:
            err(where, f"category {prefix!r} matches no catalog field")
            ok = False
        fields.update(matched)
    if per_field and not fields and ok:
        err(where, "fields or categories must name at least one catalog field")
        ok = False
    if whole and not per_field and ("fields" in spec or "categories" in spec):
        err(where, "list and erase apply to a whole record and take no fields")
        ok = False

    try:
        view = View(spec.get("view"))
    except ValueError:
        err(where, "view must be plain, masked, waybill or none")
        return None

    when_raw = spec.get("when") or {}
    relationship = None
    consent = False
    if not isinstance(when_raw, dict):
        err(where, "when must be a mapping")
        return None
    unknown = set(when_raw) - {"relationship", "consent"}
    if unknown:
        err(where, f"unknown conditions {sorted(unknown)}")
        ok = False
    if "relationship" in when_raw:
        try:
            relationship = Relationship(when_raw["relationship"])
        except ValueError:
            err(
                where,
                f"unknown relationship {when_raw['relationship']!r}; known: "
                + ", ".join(r.value for r in Relationship),
            )
            ok = False
    if "consent" in when_raw:
        if not isinstance(when_raw["consent"], bool):
            err(where, "consent must be true or false")
            ok = False
        consent = bool(when_raw["consent"])

    if relationship is Relationship.OWN_MERCHANT and per_field:
        err(where, "relationship own_merchant applies to list rules only")
        ok = False
    if whole - {Action.ERASE} and relationship not in (None, Relationship.OWN_MERCHANT):
        err(where, "a list rule's relationship can only be own_merchant")
        ok = False

    reason = spec.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        err(where, "reason must say, in one sentence, why the rule exists")
        ok = False
    if not ok:
        return None

    if view is View.PLAIN and Action.READ in actions:
        exposed = (
            sorted(f for f in fields if catalog[f].sensitive)
            if set(purpose_names or []) - PLAIN_SENSITIVE_PURPOSES
            else []
        )
        if exposed:
            err(
                where,
                f"shows sensitive fields {exposed} plain for purposes other than "
                "payment_processing / legal_obligation (PIPL Art. 28)",
            )
            return None
    if view is not View.NONE and not consent:
        needs = [p for p in purpose_names or [] if not purposes[p].necessary]
        if needs:
            err(
                where,
                f"purposes {needs} are not necessary for the transaction, so the rule must "
                "require consent (when: {consent: true}) (PIPL Art. 13)",
            )
            return None
    return Rule(
        id=rule_id,
        roles=frozenset(rule_roles),
        actions=frozenset(actions),
        purposes=frozenset(purpose_names or []),
        fields=frozenset(fields),
        view=view,
        when=Conditions(relationship=relationship, consent=consent),
        reason=reason.strip(),
        position=position,
    )
