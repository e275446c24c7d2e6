"""The privacy notice as data: built from the catalog, the policy and the notice config; hashed,
compared and rendered (PIPL Art. 17 notice contents, Art. 14 informed consent; GB/T 35273-2020
5.5). Pure functions, no database: consent/notices.py stores the versions.

Why data and not a hand-written page: a notice written by hand drifts from what the system does,
and then every consent given under it is uninformed. Built from the same catalog and policy the
vault's gate enforces, it says exactly which fields each purpose uses and who can see them; and
because it is data, two versions can be compared mechanically, so a version that adds processing
the consumer never agreed to is recognised (``material``) and the consents it touches are named
(``affected``) for the ledger to ask again.

A document is plain JSON (dicts, lists, strings, ints, booleans, None) and carries every text it
shows, so an old version renders as it was published even after the catalog or policy changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from privguard.catalog.model import Catalog, FieldSpec
from privguard.consent import notice_text
from privguard.consent.notice_config import Contact, NoticeConfig, Recipient
from privguard.policy.rules import Policy, PurposeSpec, Role, View

FORMAT = 1
Locale = Literal["zh-CN", "en"]
Fmt = Literal["markdown", "html"]
LOCALES: tuple[Locale, ...] = ("zh-CN", "en")
FORMATS: tuple[Fmt, ...] = ("markdown", "html")

# Who can access a purpose's data, in words a consumer understands (the policy's role
# descriptions are written for operators, in English only).
ROLE_LABELS: Mapping[Role, Mapping[str, str]] = {
    Role.CONSUMER: {"zh-CN": "你本人", "en": "You"},
    Role.MERCHANT_STAFF: {
        "zh-CN": "你下单的商家的店员",
        "en": "staff of the merchant you buy from",
    },
    Role.CUSTOMER_SERVICE: {"zh-CN": "平台客服", "en": "our customer-service agents"},
    Role.COURIER: {"zh-CN": "配送你包裹的快递员", "en": "the courier delivering your parcel"},
    Role.MARKETING: {"zh-CN": "平台营销人员", "en": "our marketing team"},
    Role.ANALYST: {"zh-CN": "平台数据分析人员", "en": "our data analysts"},
    Role.PLATFORM_ADMIN: {"zh-CN": "平台运营管理人员", "en": "our platform operators"},
    Role.PRIVACY_OFFICER: {
        "zh-CN": "个人信息保护负责人",
        "en": "our personal-information protection officer",
    },
    Role.AUDITOR: {"zh-CN": "审计人员", "en": "auditors"},
    Role.PARTNER: {
        "zh-CN": "与我们签订协议的合作方（见“向他人提供”）",
        "en": "partners under an agreement with us (see “Who else receives it”)",
    },
}

# PIPL Art. 28's kinds of sensitive personal information, recognised by Fides category.
ART28_KINDS: tuple[tuple[str, str], ...] = (
    ("user.government_id", "identity"),
    ("user.financial", "financial_account"),
    ("user.location", "whereabouts"),
    ("user.biometric", "biometric"),
    ("user.health_and_medical", "health"),
    ("user.childrens", "minor"),
)

# The rights a notice must tell consumers about (PIPL Art. 17(1)(4), Art. 44-50; E-Commerce Law
# Art. 24). Kept in the document, so a change to their wording is a visible, versioned change.
RIGHTS: tuple[Mapping[str, Any], ...] = (
    {
        "right": "access_copy",
        "law": {"zh-CN": "《个人信息保护法》第四十五条；《电子商务法》第二十四条",
                "en": "PIPL Art. 45; E-Commerce Law Art. 24"},
        "labels": {
            "zh-CN": "查阅、复制你的个人信息",
            "en": "See your personal information and get a copy of it",
        },
    },
    {
        "right": "portability",
        "law": {"zh-CN": "《个人信息保护法》第四十五条第三款", "en": "PIPL Art. 45(3)"},
        "labels": {
            "zh-CN": "请求将你的个人信息转移至你指定的个人信息处理者",
            "en": "Have your personal information transferred to another handler you name",
        },
    },
    {
        "right": "correction",
        "law": {"zh-CN": "《个人信息保护法》第四十六条", "en": "PIPL Art. 46"},
        "labels": {
            "zh-CN": "更正、补充不准确或者不完整的个人信息",
            "en": "Correct or complete information that is wrong or incomplete",
        },
    },
    {
        "right": "deletion",
        "law": {"zh-CN": "《个人信息保护法》第四十七条", "en": "PIPL Art. 47"},
        "labels": {
            "zh-CN": "请求删除你的个人信息",
            "en": "Have your personal information deleted",
        },
    },
    {
        "right": "withdraw_consent",
        "law": {"zh-CN": "《个人信息保护法》第十五条", "en": "PIPL Art. 15"},
        "labels": {
            "zh-CN": "随时撤回你给予的同意，撤回与给予同意一样方便",
            "en": "Withdraw any consent at any time, as easily as you gave it",
        },
    },
    {
        "right": "restrict",
        "law": {"zh-CN": "《个人信息保护法》第四十四条", "en": "PIPL Art. 44"},
        "labels": {
            "zh-CN": "限制或者拒绝我们处理你的个人信息",
            "en": "Restrict or refuse our processing of your personal information",
        },
    },
    {
        "right": "automated_decisions",
        "law": {"zh-CN": "《个人信息保护法》第二十四条；《电子商务法》第十八条",
                "en": "PIPL Art. 24; E-Commerce Law Art. 18"},
        "labels": {
            "zh-CN": "拒绝仅通过自动化决策作出的决定，并选择不针对你个人特征的推荐",
            "en": "Refuse decisions made solely by automated means, and choose recommendations "
            "that are not based on you",
        },
    },
    {
        "right": "explanation",
        "law": {"zh-CN": "《个人信息保护法》第四十八条", "en": "PIPL Art. 48"},
        "labels": {
            "zh-CN": "要求我们解释我们的个人信息处理规则",
            "en": "Ask us to explain how we process personal information",
        },
    },
    {
        "right": "account_closure",
        "law": {"zh-CN": "《电子商务法》第二十四条；GB/T 35273-2020 第 8.5 条",
                "en": "E-Commerce Law Art. 24; GB/T 35273-2020 8.5"},
        "labels": {"zh-CN": "注销你的账户", "en": "Close your account"},
    },
    {
        "right": "deceased",
        "law": {"zh-CN": "《个人信息保护法》第四十九条", "en": "PIPL Art. 49"},
        "labels": {
            "zh-CN": "近亲属为了自身合法、正当的利益，可以对已故者的个人信息行使上述权利"
            "（已故者生前另有安排的除外）",
            "en": "Close relatives of a person who has died may exercise these rights over the "
            "deceased's information for their own lawful interests, unless the deceased "
            "arranged otherwise",
        },
    },
    {
        "right": "complaint",
        "law": {"zh-CN": "《个人信息保护法》第六十五条", "en": "PIPL Art. 65"},
        "labels": {
            "zh-CN": "向履行个人信息保护职责的部门投诉、举报",
            "en": "Complain to the authorities responsible for protecting personal information",
        },
    },
)


# ------------------------------------------------------------------------------- building
def build_notice(catalog: Catalog, policy: Policy, config: NoticeConfig) -> dict[str, Any]:
    """The notice document for this catalog, policy and config.

    Purposes keep the policy's order and fields the catalog's, so the same inputs always give
    the same document (and the same :func:`content_hash`). A purpose uses the catalog fields
    some rule naming it grants, in a view other than ``none``, to someone other than the
    consumer (a consumer seeing their own data is no processing to disclose); who can access
    them is the roles of those rules.
    """
    uses: dict[str, set[str]] = {name: set() for name in policy.purposes}
    roles: dict[str, set[Role]] = {name: set() for name in policy.purposes}
    for rule in policy.rules:
        others = rule.roles - {Role.CONSUMER}
        if rule.view is View.NONE or not rule.fields or not others:
            continue
        for purpose in rule.purposes:
            if purpose in uses:
                uses[purpose] |= rule.fields
                roles[purpose] |= others
    fields_of = {p: [f for f in catalog if f.name in names] for p, names in uses.items()}
    recipients_of = {
        p: [r.key for r in config.recipients if p in r.purposes] for p in policy.purposes
    }
    purposes_of = {f.name: [p for p in policy.purposes if f.name in uses[p]] for f in catalog}

    return {
        "format": FORMAT,
        "controller": {
            "name": dict(config.controller.name),
            "address": dict(config.controller.address),
            "country": config.controller.country,
            "contact": _contact(config.controller.contact),
        },
        "officer": {
            "title": dict(config.officer.title),
            "name": dict(config.officer.name) if config.officer.name else None,
            "contact": _contact(config.officer.contact),
        },
        "purposes": [
            {
                "name": spec.name,
                "labels": _labels(spec.labels, spec.name),
                "description": _text(config.purpose_descriptions.get(spec.name)),
                "fides": spec.fides,
                "necessary": spec.necessary,
                "legal_basis": legal_basis(spec),
                "fields": [_field_ref(f) for f in fields_of[spec.name]],
                "roles": [
                    {"role": r.value, "labels": _role_labels(r, policy)}
                    for r in Role
                    if r in roles[spec.name]
                ],
                "recipients": recipients_of[spec.name],
            }
            for spec in policy.purposes.values()
        ],
        "fields": [
            {
                **_field_ref(f),
                "purposes": purposes_of[f.name],
                "retention": {
                    "keep_until": f.retention.keep_until.value,
                    "days": f.retention.days,
                    "basis": dict(
                        config.retention_basis.get(f.name)
                        or {locale: f.retention.basis for locale in LOCALES}
                    ),
                },
            }
            for f in catalog
        ],
        "sensitive": [
            {
                **_field_ref(f),
                "kind": sensitive_kind(f.category),
                "purposes": purposes_of[f.name],
                # PIPL Art. 29: processing sensitive PI on consent needs a separate consent.
                "separate_consent": any(
                    not policy.purposes[p].necessary for p in purposes_of[f.name]
                ),
            }
            for f in catalog
            if f.sensitive
        ],
        "recipients": [
            _recipient(r, catalog, policy, config.controller.country) for r in config.recipients
        ],
        "rights": {
            "privacy_center_url": config.rights.privacy_center_url,
            "email": config.rights.email,
            "phone": config.rights.phone,
            "response_days": config.rights.response_days,
            "items": [
                {"right": r["right"], "law": dict(r["law"]), "labels": dict(r["labels"])}
                for r in RIGHTS
            ],
        },
    }


def legal_basis(purpose: PurposeSpec) -> dict[str, Any]:
    """Why a purpose is lawful: the transaction (Art. 13(1)(2)), a legal duty (13(1)(3)), or
    the consumer's consent (13(1)(1)), which can be withdrawn (Art. 15)."""
    if not purpose.necessary:
        return {
            "basis": "consent",
            "pipl": "PIPL Art. 13(1)(1), Art. 14-16",
            "gdpr": "GDPR Art. 6(1)(a), Art. 7(3)",
            "consent_required": True,
            "withdrawable": True,
        }
    if purpose.fides == "essential.legal" or purpose.fides.startswith("essential.legal."):
        return {
            "basis": "legal_obligation",
            "pipl": "PIPL Art. 13(1)(3)",
            "gdpr": "GDPR Art. 6(1)(c)",
            "consent_required": False,
            "withdrawable": False,
        }
    return {
        "basis": "contract",
        "pipl": "PIPL Art. 13(1)(2)",
        "gdpr": "GDPR Art. 6(1)(b)",
        "consent_required": False,
        "withdrawable": False,
    }


def sensitive_kind(category: str) -> str:
    """Which of PIPL Art. 28's kinds a sensitive field is, from its Fides category."""
    for prefix, kind in ART28_KINDS:
        if category == prefix or category.startswith(prefix + "."):
            return kind
    return "other"


def _role_labels(role: Role, policy: Policy) -> dict[str, str]:
    known = ROLE_LABELS.get(role)
    if known:
        return dict(known)
    spec = policy.roles.get(role)  # a role added since: its operator description will do
    return {locale: (spec.description if spec else "") or role.value for locale in LOCALES}


def _labels(labels: Mapping[str, str], fallback: str) -> dict[str, str]:
    return {locale: labels.get(locale) or labels.get("en") or fallback for locale in LOCALES}


def _text(text: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(text) if text else None


def _contact(contact: Contact) -> dict[str, str | None]:
    return {"email": contact.email, "phone": contact.phone}


def _field_ref(f: FieldSpec) -> dict[str, Any]:
    return {
        "name": f.name,
        "labels": _labels(f.labels, f.name),
        "category": f.category,
        "sensitive": f.sensitive,
    }


def _recipient(r: Recipient, catalog: Catalog, policy: Policy, home: str) -> dict[str, Any]:
    return {
        "key": r.key,
        "organisation_id": str(r.organisation_id) if r.organisation_id else None,
        "name": dict(r.name),
        "description": _text(r.description),
        "country": r.country,
        # PIPL Art. 38-39: providing PI abroad needs its own notice and separate consent.
        "cross_border": r.country != home,
        "purposes": [
            {"name": p, "labels": _labels(policy.purposes[p].labels, p)} for p in r.purposes
        ],
        "fields": [_field_ref(f) for f in catalog if f.name in r.fields],
        "contact": _contact(r.contact),
        # Separate consent: for providing PI on consent to another handler (PIPL Art. 23), and
        # for any transfer abroad (Art. 39), whatever the purpose.
        "separate_consent": r.country != home
        or any(not policy.purposes[p].necessary for p in r.purposes),
    }


# -------------------------------------------------------------------------------- hashing
def canonical_json(document: Mapping[str, Any]) -> str:
    """The one serialisation that is stored and hashed: keys sorted, compact, UTF-8 text."""
    return json.dumps(
        document, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON: what a consent event records as the text agreed to."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


# -------------------------------------------------------------------------------- diffing
@dataclass(frozen=True)
class Change:
    """One difference between two notice versions, in a sentence an operator can read."""

    kind: str  # purpose_added, field_added, recipient_added, retention_changed, ...
    target: str  # the purpose, field or recipient it is about ("" for the notice as a whole)
    text: str
    material: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "text": self.text,
                "material": self.material}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Change:
        return cls(str(raw["kind"]), str(raw["target"]), str(raw["text"]),
                   bool(raw["material"]))


@dataclass(frozen=True)
class NoticeDiff:
    """What changed between two versions. ``material``: the new version adds processing the
    consumer did not agree to, so they must be told before it starts; ``affected``: the consent
    topics whose consents no longer cover what the notice says, to be asked again."""

    changes: tuple[Change, ...]
    material: bool
    affected: frozenset[str]


def diff_notices(old: Mapping[str, Any], new: Mapping[str, Any]) -> NoticeDiff:
    """Compare two notice documents.

    Material (new processing): a purpose added; a field a purpose uses added; a recipient
    added, or given more fields, purposes or another country; a purpose that needed consent
    becoming one that does not. Removals and rewording are not material: they take nothing
    new from the consumer. Affected topics: ``purpose:<name>`` for a consent-based purpose that
    is new or uses more fields; for a recipient that is new or gets more, its
    :func:`recipient_topics` (``third_party:<key>``, and ``cross_border:<key>`` when abroad).
    """
    changes: list[Change] = []
    affected: set[str] = set()
    _diff_purposes(old, new, changes, affected)
    _diff_recipients(old, new, changes, affected)
    _diff_fields(old, new, changes)
    for part in ("controller", "officer"):
        keys = _changed_keys(old.get(part) or {}, new.get(part) or {})
        if keys:
            changes.append(Change(f"{part}_changed", part, f"{part} changed: {', '.join(keys)}"))
    keys = _changed_keys(old.get("rights") or {}, new.get("rights") or {})
    if keys:
        changes.append(Change("rights_changed", "rights", f"rights changed: {', '.join(keys)}"))
    if not changes and canonical_json(old) != canonical_json(new):
        changes.append(Change("other", "", "wording or order changed"))
    return NoticeDiff(
        changes=tuple(changes),
        material=any(c.material for c in changes),
        affected=frozenset(affected),
    )


def _by(items: Iterable[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {str(item[key]): item for item in items}


def _names(items: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(item["name"]) for item in items]


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _en(labels: Mapping[str, str] | None, fallback: str) -> str:
    return (labels or {}).get("en") or fallback


def _diff_purposes(
    old: Mapping[str, Any], new: Mapping[str, Any], changes: list[Change], affected: set[str]
) -> None:
    before = _by(old.get("purposes", []), "name")
    after = _by(new.get("purposes", []), "name")
    for name, p in after.items():
        consent = not p["necessary"]
        topic = f"purpose:{name}"
        if name not in before:
            how = "needs consent" if consent else "necessary, no consent asked"
            uses = ", ".join(_names(p["fields"])) or "no fields"
            changes.append(Change(
                "purpose_added", name,
                f"new purpose {name} ({_en(p['labels'], name)}; {how}) uses {uses}", True,
            ))
            if consent:
                affected.add(topic)
            continue
        o = before[name]
        old_fields, new_fields = _names(o["fields"]), _names(p["fields"])
        for f in new_fields:
            if f not in old_fields:
                changes.append(Change("field_added", name, f"purpose {name} now uses {f}", True))
                if consent:
                    affected.add(topic)
        for f in old_fields:
            if f not in new_fields:
                changes.append(Change("field_removed", name, f"purpose {name} no longer uses {f}"))
        if o["necessary"] and not p["necessary"]:
            changes.append(Change(
                "purpose_changed", name, f"purpose {name} now needs consent (no longer necessary)"
            ))
        elif p["necessary"] and not o["necessary"]:
            # Consumers who refused would now be processed without being asked.
            changes.append(Change(
                "purpose_changed", name,
                f"purpose {name} no longer asks for consent ({p['legal_basis']['pipl']})", True,
            ))
        old_roles, new_roles = [r["role"] for r in o["roles"]], [r["role"] for r in p["roles"]]
        for r in new_roles:
            if r not in old_roles:
                changes.append(Change("access_changed", name, f"{r} can now access {name} data"))
        for r in old_roles:
            if r not in new_roles:
                changes.append(
                    Change("access_changed", name, f"{r} no longer accesses {name} data")
                )
        keys = [k for k in ("labels", "description", "fides") if o.get(k) != p.get(k)]
        if keys:
            changes.append(Change(
                "purpose_changed", name, f"purpose {name}: {', '.join(keys)} changed"
            ))
    for name in before:
        if name not in after:
            changes.append(Change("purpose_removed", name, f"purpose {name} removed"))


def _diff_recipients(
    old: Mapping[str, Any], new: Mapping[str, Any], changes: list[Change], affected: set[str]
) -> None:
    before = _by(old.get("recipients", []), "key")
    after = _by(new.get("recipients", []), "key")
    for key, r in after.items():
        topics = recipient_topics(r)
        if key not in before:
            changes.append(Change(
                "recipient_added", key,
                f"new recipient {key} ({_en(r['name'], key)}, {r['country']}) receives "
                f"{', '.join(_names(r['fields']))} for {', '.join(_names(r['purposes']))}",
                True,
            ))
            affected |= topics
            continue
        o = before[key]
        more: list[str] = []
        less: list[str] = []
        for part in ("fields", "purposes"):
            was, now = _names(o[part]), _names(r[part])
            more += [f"{part} + {n}" for n in now if n not in was]
            less += [f"{part} - {n}" for n in was if n not in now]
        if o["country"] != r["country"]:
            more.append(f"country {o['country']} -> {r['country']}")
        if more:
            changes.append(Change(
                "recipient_changed", key, f"recipient {key} gets more: {'; '.join(more)}", True
            ))
            affected |= topics
        if less:
            changes.append(Change(
                "recipient_changed", key, f"recipient {key} gets less: {'; '.join(less)}"
            ))
        keys = [
            k for k in ("name", "description", "contact", "organisation_id")
            if o.get(k) != r.get(k)
        ]
        if keys:
            changes.append(Change(
                "recipient_changed", key, f"recipient {key}: {', '.join(keys)} changed"
            ))
    for key in before:
        if key not in after:
            changes.append(Change("recipient_removed", key, f"recipient {key} removed"))


def recipient_topics(recipient: Mapping[str, Any]) -> frozenset[str]:
    """The consent topics of one recipient: its separate consent (PIPL Art. 23) and, abroad,
    the cross-border one (Art. 39); by key, and by organisation id where one is configured,
    since the ledger records consents against the registered organisation."""
    targets = [str(recipient["key"])]
    if recipient.get("organisation_id"):
        targets.append(str(recipient["organisation_id"]))
    kinds = ["third_party"] + (["cross_border"] if recipient.get("cross_border") else [])
    return frozenset(f"{kind}:{target}" for kind in kinds for target in targets)


def _diff_fields(old: Mapping[str, Any], new: Mapping[str, Any], changes: list[Change]) -> None:
    before = _by(old.get("fields", []), "name")
    after = _by(new.get("fields", []), "name")
    for name, f in after.items():
        if name not in before:
            changes.append(Change("field_listed", name, f"field {name} now listed"))
            continue
        o = before[name]
        was, now = o["retention"], f["retention"]
        if (was["keep_until"], was["days"]) != (now["keep_until"], now["days"]):
            changes.append(Change(
                "retention_changed", name,
                f"retention of {name}: {retention_en(was)} -> {retention_en(now)}",
            ))
        elif was["basis"] != now["basis"]:
            changes.append(Change("retention_changed", name, f"retention basis of {name} changed"))
        if f["sensitive"] != o["sensitive"]:
            state = "now sensitive (PIPL Art. 28)" if f["sensitive"] else "no longer sensitive"
            changes.append(Change("field_changed", name, f"field {name} {state}"))
        keys = [k for k in ("labels", "category") if o.get(k) != f.get(k)]
        if keys:
            changes.append(
                Change("field_changed", name, f"field {name}: {', '.join(keys)} changed")
            )
    for name in before:
        if name not in after:
            changes.append(Change("field_unlisted", name, f"field {name} no longer listed"))


def retention_en(retention: Mapping[str, Any]) -> str:
    """A retention rule in short English, for operators (the rendered notice says it fully)."""
    event = str(retention["keep_until"]).replace("_", " ")
    days = int(retention["days"])
    return f"until {event}" if days == 0 else f"{days} days after {event}"


# ------------------------------------------------------------------------------ rendering
def render_notice(
    document: Mapping[str, Any],
    locale: Locale = "zh-CN",
    fmt: Fmt = "markdown",
    *,
    version: int | None = None,
    published_at: datetime | None = None,
    content_hash_hex: str | None = None,
) -> str:
    """The notice as a consumer reads it, in Markdown or a standalone HTML page.

    Templates live in consent/templates/; HTML is autoescaped and Markdown escapes its own
    syntax, so a name from the config (or a tampered document) cannot inject markup.
    """
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {LOCALES}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    template = _environment(fmt).get_template(f"notice.{'md' if fmt == 'markdown' else 'html'}.j2")
    return template.render(
        **notice_text.context(
            document,
            locale,
            fmt,
            version=version,
            published_at=published_at,
            content_hash_hex=content_hash_hex or content_hash(document),
        )
    )


@cache
def _environment(fmt: Fmt) -> Any:
    """One Jinja2 environment per format, built on first use (never at import)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("privguard.consent", "templates"),
        autoescape=fmt == "html",
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = notice_text.markdown_escape
    return env
