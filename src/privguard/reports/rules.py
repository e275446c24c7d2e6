"""The data map and what follows from it: records of processing, which processing needs an
impact assessment and the risks that can be seen in it, and the activation gate.

Pure functions over plain data (no database, no clock: ``now`` is part of the data map), so
every report is reproducible in a unit test and says exactly what the catalog, the policy, the
notice config and the recipient registry say.

Why a purpose is the unit: the policy binds every read to a purpose, the notice promises per
purpose, and PIPL Art. 55 asks about processing activities; one processing activity here is one
policy purpose. Which fields a purpose uses and who inside can access them is the privacy
notice's own derivation (consent/notice.py ``build_notice``), reused rather than rewritten, so a
record of processing can never say something the published notice does not.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from importlib import resources
from typing import Any

import yaml

from privguard.catalog.model import Catalog, Retention, RetentionStart
from privguard.consent.notice import build_notice, content_hash, sensitive_kind
from privguard.consent.notice_config import NoticeConfig
from privguard.policy.loader import Problem
from privguard.policy.rules import Action, Policy, Relationship, Role, Rule, Scope, View
from privguard.sharing.rules import Terms, is_cross_border
from privguard.yaml_files import parse_yaml

FORMAT = 1
LOCALES = ("zh-CN", "en")
# PIPL Art. 56: the assessment report and the processing record are kept at least three years.
KEEP_YEARS = 3


# ------------------------------------------------------------------------------ the data map
@dataclass(frozen=True)
class AgreementFacts:
    """A sharing agreement as the reports need it (sharing/models.py Agreement)."""

    agreement_id: str
    reference: str
    purposes: tuple[str, ...]
    fields: tuple[str, ...]
    retention_days: int
    sub_processing: bool
    starts_at: datetime
    ends_at: datetime
    terminated_at: datetime | None = None

    @property
    def terms(self) -> Terms:
        return Terms(
            frozenset(self.purposes), frozenset(self.fields), self.starts_at, self.ends_at,
            self.terminated_at,
        )

    def in_force(self, now: datetime) -> bool:
        return self.terms.in_force(now)

    def ended(self, now: datetime) -> bool:
        return self.terms.ended_by(now) is not None


@dataclass(frozen=True)
class RecipientFacts:
    """A registered recipient (sharing/models.py Recipient) with all its agreements."""

    recipient_id: str
    legal_entity: str
    contact: str
    country: str
    processor_role: str  # entrusted (PIPL Art. 21) | independent (Art. 23)
    category: str
    agreements: tuple[AgreementFacts, ...] = ()

    def for_purpose(self, purpose: str) -> list[AgreementFacts]:
        return [a for a in self.agreements if purpose in a.purposes]


@dataclass(frozen=True)
class DataMap:
    """Everything a report is built from, at one moment."""

    catalog: Catalog
    policy: Policy
    notice_config: NoticeConfig
    recipients: tuple[RecipientFacts, ...]
    home: str  # the platform's country: recipients elsewhere are cross-border
    now: datetime
    key_provider: str = "file"
    sequencer_interval: float = 1.0

    @cached_property
    def notice(self) -> dict[str, Any]:
        """The privacy notice these inputs publish: purposes -> fields -> roles."""
        return build_notice(self.catalog, self.policy, self.notice_config)

    @cached_property
    def purposes(self) -> dict[str, Mapping[str, Any]]:
        return {p["name"]: p for p in self.notice["purposes"]}

    @cached_property
    def notice_fields(self) -> dict[str, Mapping[str, Any]]:
        return {f["name"]: f for f in self.notice["fields"]}

    def fields_of(self, purpose: str) -> list[str]:
        return [f["name"] for f in self.purposes[purpose]["fields"]]

    def roles_of(self, purpose: str) -> list[str]:
        return [r["role"] for r in self.purposes[purpose]["roles"]]

    def rules_of(self, purpose: str) -> list[Rule]:
        return [r for r in self.policy.rules if purpose in r.purposes]

    def recipients_of(self, purpose: str) -> list[RecipientFacts]:
        """Registered recipients with an agreement (in force or not) naming the purpose."""
        return [r for r in self.recipients if r.for_purpose(purpose)]

    def declared_of(self, purpose: str) -> list[Mapping[str, Any]]:
        """Recipients the notice config declares for the purpose."""
        return [
            r for r in self.notice["recipients"]
            if purpose in [p["name"] for p in r["purposes"]]
        ]

    def abroad(self, recipient: RecipientFacts) -> bool:
        return is_cross_border(recipient.country, self.home)

    def external_roles(self) -> frozenset[Role]:
        """Roles of people outside the platform (merchants, carriers, partners): the policy
        gives them scope ``relationship``; the consumer sees only their own data."""
        return frozenset(
            role for role, spec in self.policy.roles.items()
            if spec.scope is Scope.RELATIONSHIP and role is not Role.CONSUMER
        )


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ------------------------------------------------------------------------------ RoPA
def _grants(rule: Rule) -> bool:
    return rule.view is not View.NONE and bool(rule.roles - {Role.CONSUMER})


def access_of(dm: DataMap, purpose: str) -> list[dict[str, Any]]:
    """Who inside and outside the platform can reach the purpose's data, rule by rule: the
    rule's roles (the consumer's own access is no processing to record), actions, fields, the
    most it shows and its conditions. The first rule whose conditions hold decides, so this is
    what *at most* happens."""
    out = []
    for rule in dm.rules_of(purpose):
        if not _grants(rule):
            continue
        out.append({
            "rule": rule.id,
            "roles": [r.value for r in Role if r in rule.roles and r is not Role.CONSUMER],
            "actions": sorted(a.value for a in rule.actions),
            "fields": [f.name for f in dm.catalog if f.name in rule.fields],
            "view": rule.view.value,
            "when": rule.when.describe(),
            "reason": rule.reason,
        })
    return out


def _agreement(a: AgreementFacts, now: datetime) -> dict[str, Any]:
    return {
        "agreement_id": a.agreement_id,
        "reference": a.reference,
        "purposes": list(a.purposes),
        "fields": list(a.fields),
        "retention_days": a.retention_days,
        "sub_processing": a.sub_processing,
        "starts_at": iso(a.starts_at),
        "ends_at": iso(a.ends_at),
        "terminated_at": iso(a.terminated_at),
        "in_force": a.in_force(now),
    }


def _recipient(dm: DataMap, r: RecipientFacts, purpose: str | None) -> dict[str, Any]:
    agreements = r.for_purpose(purpose) if purpose is not None else list(r.agreements)
    return {
        "recipient_id": r.recipient_id,
        "legal_entity": r.legal_entity,
        "contact": r.contact,
        "country": r.country,
        "cross_border": dm.abroad(r),
        "processor_role": r.processor_role,
        "category": r.category,
        "agreements": [_agreement(a, dm.now) for a in agreements],
    }


def _declared(dm: DataMap, r: Mapping[str, Any], purpose: str) -> dict[str, Any]:
    registered = {x.recipient_id for x in dm.recipients}
    return {
        "key": r["key"],
        "name": r["name"],
        "country": r["country"],
        "cross_border": r["cross_border"],
        "fields": [f["name"] for f in r["fields"]],
        "organisation_id": r["organisation_id"],
        "registered": r["organisation_id"] in registered,
    }


def activity(dm: DataMap, purpose: str) -> dict[str, Any]:
    """One processing activity (= one policy purpose) as a record of processing lists it."""
    p = dm.purposes[purpose]
    spec = dm.policy.purposes[purpose]
    fields = []
    for ref in p["fields"]:
        spec_f = dm.catalog[ref["name"]]
        listed = dm.notice_fields[ref["name"]]
        fields.append({
            "name": ref["name"],
            "labels": ref["labels"],
            "category": ref["category"],
            "sensitive": ref["sensitive"],
            "kind": sensitive_kind(ref["category"]) if ref["sensitive"] else None,
            "masking": spec_f.masking,
            "retention": listed["retention"],
        })
    triggers = needs_pia(dm, purpose)
    return {
        "purpose": purpose,
        "labels": p["labels"],
        "description": p["description"],
        "fides": p["fides"],
        "necessary": p["necessary"],
        "legal_basis": p["legal_basis"],
        "automated": dict(spec.automated) if spec.automated else None,
        # Every catalog field is about a customer (Fides categories under `user`); children
        # under 14 are customers too, through their guardian's consent (PIPL Art. 31).
        "subjects": ["customers", "minors_with_guardian"],
        "categories": sorted({f["category"] for f in fields}),
        "fields": fields,
        "roles": dm.roles_of(purpose),
        "access": access_of(dm, purpose),
        "recipients": [_recipient(dm, r, purpose) for r in dm.recipients_of(purpose)],
        "declared_recipients": [_declared(dm, r, purpose) for r in dm.declared_of(purpose)],
        "pia": {
            "needed": bool(triggers),
            "cases": [t.as_dict() for t in triggers],
            "link": spec.pia,
        },
    }


def security_measures(dm: DataMap) -> list[dict[str, Any]]:
    """What privguard really does to protect the data (PIPL Art. 51; GB/T 35273-2020 7.1,
    7.2), with the facts of this deployment filled in. Each measure names the module that does
    it, so an auditor can check the claim against the code."""
    catalog, policy = dm.catalog, dm.policy
    searchable = catalog.searchable()
    waybill = [f.name for f in catalog if f.waybill_masking]
    live = [f.name for f in catalog if f.retention.expires_live]
    kept = [f.name for f in catalog if f.retention.keep_until is RetentionStart.LAST_TRANSACTION]
    plain_sensitive = sorted({
        p for r in policy.rules
        if r.view is View.PLAIN and Action.READ in r.actions
        and any(catalog[f].sensitive for f in r.fields)
        for p in r.purposes
    })
    consent_purposes = [p.name for p in policy.purposes.values() if not p.necessary]
    return [
        {"key": "encryption", "where": "privguard/crypto/envelope.py, vault/service.py",
         "law": "PIPL Art. 51(3); CSL Art. 21, 40", "facts": {"provider": dm.key_provider}},
        {"key": "shredding", "where": "vault/service.py (erase)",
         "law": "PIPL Art. 47; GB/T 35273-2020 8.5", "facts": {}},
        {"key": "blind_index", "where": "privguard/crypto/blind_index.py",
         "law": "PIPL Art. 51(3)", "facts": {"fields": searchable}},
        {"key": "masking", "where": "privguard/catalog/masking.py",
         "law": "GB/T 35273-2020 7.2; GB/T 41833-2022",
         "facts": {"fields": len(catalog.fields), "waybill": waybill}},
        {"key": "gate", "where": "privguard/vault/service.py (read), policy/rules.py",
         "law": "PIPL Art. 51(3); GB/T 35273-2020 7.1",
         "facts": {"rules": len(policy.rules), "plain_sensitive": plain_sensitive}},
        {"key": "consent", "where": "privguard/consent/service.py",
         "law": "PIPL Art. 13-16, 23, 29, 39", "facts": {"purposes": consent_purposes}},
        {"key": "access_log", "where": "privguard/audit/",
         "law": "PIPL Art. 51; GB/T 35273-2020 11.3",
         "facts": {"interval": dm.sequencer_interval}},
        {"key": "retention", "where": "privguard/rights/retention.py, vault/retention.py",
         "law": "PIPL Art. 19; E-Commerce Law Art. 31", "facts": {"live": live, "kept": kept}},
        {"key": "sharing", "where": "privguard/sharing/service.py",
         "law": "PIPL Art. 21, 23, 38-39; GB/T 35273-2020 9.7",
         "facts": {"recipients": len(dm.recipients)}},
    ]


def build_ropa(dm: DataMap) -> dict[str, Any]:
    """The records of processing (GDPR Art. 30; PIPL Art. 55-56 keep them with the
    assessments; GB/T 35273-2020 11.3) as plain JSON: who we are, every processing activity
    with its purposes, legal basis, data, subjects, recipients and retention, and the measures
    that protect it."""
    notice = dm.notice
    return {
        "format": FORMAT,
        "kind": "ropa",
        "generated_at": iso(dm.now),
        "controller": notice["controller"],
        "officer": notice["officer"],
        "home": dm.home,
        "sources": {
            "catalog": dm.catalog.source,
            "policy": dm.policy.source,
            "notice_config": dm.notice_config.source,
        },
        "activities": [activity(dm, name) for name in dm.policy.purposes],
        "recipients": [_recipient(dm, r, None) for r in dm.recipients],
        "security": security_measures(dm),
    }


# ------------------------------------------------------------------------------ PIA
class Case(StrEnum):
    """The processing PIPL Art. 55 says must be assessed beforehand."""

    SENSITIVE = "sensitive"  # (1) processing sensitive personal information
    AUTOMATED = "automated"  # (2) automated decision-making
    ENTRUST_PROVIDE_DISCLOSE = "entrust_provide_disclose"  # (3) entrusting, providing, disclosing
    CROSS_BORDER = "cross_border"  # (4) providing personal information abroad


@dataclass(frozen=True)
class Trigger:
    """Why a purpose falls under one of Art. 55's cases: the fields, rules or recipients."""

    case: Case
    items: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"case": self.case.value, "items": list(self.items)}


def needs_pia(dm: DataMap, purpose: str) -> list[Trigger]:
    """The Art. 55 cases a purpose falls under, each with what puts it there:

    - sensitive: a sensitive field granted in any view (not ``none``) to someone other than the
      consumer: the fields the notice lists for the purpose;
    - automated: the purpose declares automated decisions (policy ``automated``);
    - entrusting / providing / disclosing: a rule lets people outside the platform (roles of
      scope ``relationship``: merchants, couriers, partners) reach the data, a rule rests on a
      sharing agreement, or a recipient (registered or declared in the notice) receives it;
    - cross-border: a recipient abroad has an agreement for it, or the notice declares one.
    """
    out: list[Trigger] = []
    sensitive = [f for f in dm.fields_of(purpose) if dm.catalog[f].sensitive]
    if sensitive:
        out.append(Trigger(Case.SENSITIVE, tuple(sensitive)))
    if dm.policy.purposes[purpose].automated:
        out.append(Trigger(Case.AUTOMATED, (purpose,)))
    external = dm.external_roles()
    items: list[str] = []
    for rule in dm.rules_of(purpose):
        if not _grants(rule):
            continue
        if rule.roles & external or rule.when.relationship is Relationship.SHARING_AGREEMENT:
            items.append(f"rule {rule.id}")
    items += [f"recipient {r.legal_entity}" for r in dm.recipients_of(purpose)]
    items += [f"declared recipient {r['key']}" for r in dm.declared_of(purpose)]
    if items:
        out.append(Trigger(Case.ENTRUST_PROVIDE_DISCLOSE, tuple(items)))
    abroad = [f"recipient {r.legal_entity} ({r.country})"
              for r in dm.recipients_of(purpose) if dm.abroad(r)]
    abroad += [f"declared recipient {r['key']} ({r['country']})"
               for r in dm.declared_of(purpose) if r["cross_border"]]
    if abroad:
        out.append(Trigger(Case.CROSS_BORDER, tuple(abroad)))
    return out


class RiskKind(StrEnum):
    SENSITIVE_PLAIN = "sensitive_plain"
    PARTNER_WITHOUT_AGREEMENT = "partner_without_agreement"
    NO_AGREEMENT = "no_agreement"
    RETENTION_LONGER = "retention_longer"
    CROSS_BORDER_UNCONSENTED = "cross_border_unconsented"


@dataclass(frozen=True)
class Risk:
    """A risk the data map shows. ``key`` is stable across runs (it names the rule, recipient,
    agreement or field), so the officer's answer to it stays attached to it."""

    kind: RiskKind
    key: str
    level: str  # high | medium
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind.value}:{self.key}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind.value, "level": self.level,
                "params": dict(self.params)}


def _finite_days(retention: Retention) -> int | None:
    """A catalog period an agreement can be compared with, in days; None when the value lives
    as long as the account (no fixed number of days to compare)."""
    if retention.keep_until is RetentionStart.ACCOUNT_CLOSURE:
        return None
    return int(retention.days)


def risks(dm: DataMap, purpose: str) -> list[Risk]:
    """The risks the data map shows for one purpose (the PIA's pre-filled part):

    - sensitive_plain: a rule shows sensitive fields plain to someone other than the consumer
      (what ``privguard policy check`` warns about, per purpose);
    - partner_without_agreement: a rule lets the partner role read without resting on a sharing
      agreement, so the gate checks no agreement, no agreed fields, no transfer consent;
    - no_agreement: a recipient with the purpose in its agreements has none in force; a
      recipient the notice declares for it is not registered, or has no agreement in force
      covering it, or names no organisation the registry could tie to an agreement;
    - retention_longer: an agreement keeps a field longer than the catalog keeps it;
    - cross_border_unconsented: a recipient abroad receives for the purpose but consumers
      cannot be asked the separate transfer consent (PIPL Art. 39): the notice does not declare
      it abroad under its organisation id, or a partner rule does not rest on an agreement.
    """
    out: list[Risk] = []
    catalog, now = dm.catalog, dm.now
    partner_loose = []
    for rule in dm.rules_of(purpose):
        others = rule.roles - {Role.CONSUMER}
        if rule.view is View.PLAIN and Action.READ in rule.actions and others:
            exposed = [f.name for f in catalog if f.name in rule.fields and f.sensitive]
            if exposed:
                out.append(Risk(RiskKind.SENSITIVE_PLAIN, rule.id, "high", {
                    "rule": rule.id, "roles": sorted(r.value for r in others),
                    "fields": exposed}))
        if (
            Role.PARTNER in rule.roles and rule.view is not View.NONE
            and rule.when.relationship is not Relationship.SHARING_AGREEMENT
        ):
            partner_loose.append(rule.id)
            out.append(Risk(RiskKind.PARTNER_WITHOUT_AGREEMENT, rule.id, "high",
                            {"rule": rule.id}))

    registered = {r.recipient_id: r for r in dm.recipients}
    for r in dm.recipients_of(purpose):
        if not any(a.in_force(now) for a in r.for_purpose(purpose)):
            out.append(Risk(RiskKind.NO_AGREEMENT, r.recipient_id, "medium", {
                "recipient": r.legal_entity, "reason": "not_in_force"}))
    for d in dm.declared_of(purpose):
        org = d["organisation_id"]
        if org is None:
            reason = "no_organisation"
        elif org not in registered:
            reason = "not_registered"
        elif not any(a.in_force(now) for a in registered[org].for_purpose(purpose)):
            reason = "no_agreement"
        else:
            continue
        if reason == "no_agreement" and any(
            x.id == f"{RiskKind.NO_AGREEMENT.value}:{org}" for x in out
        ):
            continue  # already named as a registered recipient without an agreement in force
        out.append(Risk(RiskKind.NO_AGREEMENT, f"declared:{d['key']}", "medium", {
            "recipient": d["key"], "reason": reason}))

    for r in dm.recipients_of(purpose):
        for a in r.for_purpose(purpose):
            if a.ended(now):
                continue
            for name in a.fields:
                spec = catalog.fields.get(name)
                days = _finite_days(spec.retention) if spec is not None else None
                if days is not None and a.retention_days > days:
                    out.append(Risk(
                        RiskKind.RETENTION_LONGER, f"{a.reference}:{name}", "medium", {
                            "recipient": r.legal_entity, "agreement": a.reference,
                            "field": name, "agreement_days": a.retention_days,
                            "field_days": days,
                            "keep_until": spec.retention.keep_until.value}))

    abroad_declared = {
        d["organisation_id"] for d in dm.notice["recipients"]
        if d["cross_border"] and d["organisation_id"]
    }
    for r in dm.recipients_of(purpose):
        if not dm.abroad(r) or all(a.ended(now) for a in r.for_purpose(purpose)):
            continue
        reasons = []
        if r.recipient_id not in abroad_declared:
            reasons.append("not_in_notice")
        if partner_loose:
            reasons.append("gate_cannot_ask")
        if reasons:
            out.append(Risk(RiskKind.CROSS_BORDER_UNCONSENTED, r.recipient_id, "high", {
                "recipient": r.legal_entity, "country": r.country, "reasons": reasons}))
    return out


# ------------------------------------------------------------------------------ the template
class TemplateError(ValueError):
    """The PIA template is invalid; the message names the key."""


@dataclass(frozen=True)
class Question:
    id: str
    section: str  # general | a Case value | risk | conclusion
    text: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "section": self.section, "text": dict(self.text)}


@dataclass(frozen=True)
class Template:
    version: int
    sha256: str  # of the file's text: which template an assessment was made with
    general: tuple[Question, ...]
    cases: Mapping[Case, tuple[Question, ...]]
    case_titles: Mapping[Case, Mapping[str, str]]
    case_law: Mapping[Case, str]
    risk_question: Mapping[str, str]
    conclusion: Question


QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _texts(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or set(raw) != set(LOCALES) or not all(
        isinstance(v, str) and v.strip() for v in raw.values()
    ):
        raise TemplateError(f"pia template {where}: must give the text in {', '.join(LOCALES)}")
    return {k: " ".join(v.split()) for k, v in raw.items()}


def _questions(raw: Any, where: str, section: str) -> tuple[Question, ...]:
    if not isinstance(raw, list) or not raw:
        raise TemplateError(f"pia template {where}: must be a non-empty list of questions")
    out = []
    for n, q in enumerate(raw):
        at = f"{where}[{n}]"
        if not isinstance(q, dict) or set(q) != {"id", "text"}:
            raise TemplateError(f"pia template {at}: a question is {{id, text}}")
        if not isinstance(q["id"], str) or not QUESTION_ID.match(q["id"]):
            raise TemplateError(f"pia template {at}.id: lower case letters, digits, _")
        out.append(Question(f"{section}.{q['id']}", section, _texts(q["text"], f"{at}.text")))
    return tuple(out)


def parse_template(text: str) -> Template:
    try:
        doc = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"pia template: not valid YAML ({exc})") from None
    if not isinstance(doc, dict) or set(doc) != {
        "version", "general", "cases", "risk_question", "conclusion"
    }:
        raise TemplateError(
            "pia template: needs exactly version, general, cases, risk_question, conclusion"
        )
    if not isinstance(doc["version"], int):
        raise TemplateError("pia template version: must be a whole number")
    cases_raw = doc["cases"]
    if not isinstance(cases_raw, dict) or set(cases_raw) != {c.value for c in Case}:
        raise TemplateError(
            "pia template cases: must have exactly " + ", ".join(c.value for c in Case)
        )
    cases, titles, law = {}, {}, {}
    for name, spec in cases_raw.items():
        case = Case(name)
        if not isinstance(spec, dict) or set(spec) != {"title", "law", "questions"}:
            raise TemplateError(f"pia template cases.{name}: needs title, law, questions")
        titles[case] = _texts(spec["title"], f"cases.{name}.title")
        law[case] = str(spec["law"])
        cases[case] = _questions(spec["questions"], f"cases.{name}.questions", name)
    conclusion = doc["conclusion"]
    if not isinstance(conclusion, dict) or set(conclusion) != {"text"}:
        raise TemplateError("pia template conclusion: needs text")
    return Template(
        version=doc["version"],
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        general=_questions(doc["general"], "general", "general"),
        cases=cases,
        case_titles=titles,
        case_law=law,
        risk_question=_texts(doc["risk_question"], "risk_question"),
        conclusion=Question("conclusion", "conclusion", _texts(conclusion["text"], "conclusion")),
    )


def shipped_template() -> Template:
    text = resources.files("privguard.reports").joinpath("pia_template.yaml").read_text("utf-8")
    return parse_template(text)


def questions(template: Template, triggers: Sequence[Trigger], found: Sequence[Risk]) -> list[
    Question
]:
    """What the officer must answer: the Art. 56 questions, each triggered case's, one per
    risk the data map shows (how it is treated), and the conclusion."""
    out = list(template.general)
    for t in triggers:
        out += template.cases[t.case]
    out += [Question(f"risk.{r.id}", "risk", template.risk_question) for r in found]
    out.append(template.conclusion)
    return out


def scope_of(dm: DataMap, purpose: str) -> dict[str, list[str]]:
    """What an assessment of the purpose covers: the fields, the Art. 55 cases and the
    registered recipients. A later data map with anything more is not covered by it."""
    return {
        "fields": dm.fields_of(purpose),
        "cases": [t.case.value for t in needs_pia(dm, purpose)],
        "recipients": sorted(r.recipient_id for r in dm.recipients_of(purpose)),
    }


def prefill(dm: DataMap, purpose: str, template: Template) -> dict[str, Any]:
    """A new assessment's pre-filled part: the processing as the data map shows it, the cases
    and risks found, and the questions. Stored with the assessment, so the finished report
    shows what was assessed even after the policy or the registry change."""
    if purpose not in dm.policy.purposes:
        raise KeyError(purpose)
    triggers = needs_pia(dm, purpose)
    found = risks(dm, purpose)
    return {
        "format": FORMAT,
        "purpose": purpose,
        "generated_at": iso(dm.now),
        "template": {"version": template.version, "sha256": template.sha256},
        "activity": activity(dm, purpose),
        "cases": [
            {**t.as_dict(), "title": dict(template.case_titles[t.case]),
             "law": template.case_law[t.case]}
            for t in triggers
        ],
        "risks": [r.as_dict() for r in found],
        "questions": [q.as_dict() for q in questions(template, triggers, found)],
        "scope": scope_of(dm, purpose),
    }


def unanswered(document: Mapping[str, Any], answers: Mapping[str, str]) -> list[str]:
    """The questions without an answer, in the order asked."""
    return [
        q["id"] for q in document["questions"] if not (answers.get(q["id"]) or "").strip()
    ]


class Outcome(StrEnum):
    APPROVED = "approved"  # the processing may go ahead with the measures described
    REJECTED = "rejected"  # it may not


def signed_content(
    *,
    assessment_id: str,
    purpose: str,
    document: Mapping[str, Any],
    answers: Mapping[str, str],
    outcome: str,
    signed_by: str,
    signed_at: datetime,
) -> dict[str, Any]:
    """Exactly what the officer signs: the pre-filled assessment, every answer, the outcome,
    who and when. Its SHA-256 (:func:`signature_hash`) is stored with the sign-off."""
    return {
        "assessment_id": assessment_id,
        "purpose": purpose,
        "document": dict(document),
        "answers": {k: answers[k] for k in sorted(answers)},
        "outcome": outcome,
        "signed_by": signed_by,
        "signed_at": iso(signed_at),
    }


def signature_hash(content: Mapping[str, Any]) -> str:
    return content_hash(content)


def keep_until(signed_at: datetime) -> datetime:
    """Three years after sign-off, same calendar day (29 February -> 28 February)."""
    year = signed_at.year + KEEP_YEARS
    day = signed_at.day
    if signed_at.month == 2 and day == 29 and not calendar.isleap(year):
        day = 28
    return signed_at.replace(year=year, day=day)


# ------------------------------------------------------------------------------ the gate
@dataclass(frozen=True)
class AssessmentFacts:
    """A stored assessment as the activation gate needs it."""

    assessment_id: str
    purpose: str
    signed: bool
    outcome: str | None
    intact: bool  # the stored content still has the hash that was signed
    scope: Mapping[str, Sequence[str]]


def not_covered(current: Mapping[str, Sequence[str]], assessed: Mapping[str, Sequence[str]]
                ) -> list[str]:
    """What the purpose does now that its assessment did not assess."""
    out = []
    for key in ("fields", "cases", "recipients"):
        new = [x for x in current.get(key, []) if x not in set(assessed.get(key, []))]
        if new:
            out.append(f"{key} {', '.join(new)}")
    return out


def activation_problems(
    dm: DataMap, assessments: Mapping[str, AssessmentFacts]
) -> list[Problem]:
    """Why this policy cannot be activated: each purpose that needs an impact assessment
    (:func:`needs_pia`) must link (``pia:``) an assessment of that purpose that the officer
    signed with outcome approved, unaltered since, and covering what the purpose does now.
    Empty when it can."""
    problems: list[Problem] = []
    for name, spec in dm.policy.purposes.items():
        triggers = needs_pia(dm, name)
        if not triggers:
            continue
        where = f"purposes.{name}"
        cases = ", ".join(t.case.value for t in triggers)

        def fail(message: str, where: str = where) -> None:
            problems.append(Problem("error", where, message))

        if spec.pia is None:
            fail(f"needs an impact assessment (PIPL Art. 55: {cases}); create one with "
                 f"`privguard report pia new {name}`, have the officer sign it, and link it "
                 "with `pia: <id>`")
            continue
        found = assessments.get(spec.pia)
        if found is None:
            fail(f"pia {spec.pia}: no such impact assessment")
        elif found.purpose != name:
            fail(f"pia {spec.pia} assesses {found.purpose}, not {name}")
        elif not found.signed:
            fail(f"pia {spec.pia} is not signed: the officer signs it with "
                 f"`privguard report pia sign {spec.pia}`")
        elif not found.intact:
            fail(f"pia {spec.pia} was altered after it was signed (its content no longer has "
                 "the signed hash)")
        elif found.outcome != Outcome.APPROVED.value:
            fail(f"pia {spec.pia} concluded {found.outcome}: the processing may not start")
        else:
            missing = not_covered(scope_of(dm, name), found.scope)
            if missing:
                fail(f"pia {spec.pia} does not cover what the purpose does now ("
                     + "; ".join(missing) + "): assess it again")
    return problems


def purposes_needing_pia(dm: DataMap) -> dict[str, list[Trigger]]:
    return {name: t for name in dm.policy.purposes if (t := needs_pia(dm, name))}
