"""The words of the rendered notice, in each locale, and the helpers its templates call.

The templates (consent/templates/) hold the layout; this module holds the sentences, so the two
languages stay in step: every key exists in both (tests/unit/test_notice.py checks it). The
sentences speak to the consumer ("you", "你") in plain words; the law is cited in brackets for
those who want it (PIPL Art. 17: "in a clear and easy-to-understand language").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from privguard.consent.notice_config import EMAIL, URL

MESSAGES: Mapping[str, Mapping[str, str]] = {
    "zh-CN": {
        "title": "个人信息保护政策",
        "draft": "草稿，尚未发布",
        "version": "第 {version} 版，发布日期：{date}",
        "fingerprint": "本版本内容的 SHA-256 摘要",
        "intro": "本政策说明{controller}（以下简称“我们”）处理你的哪些个人信息、为什么处理、"
        "保存多长时间、向谁提供，以及你如何行使自己的权利。提供服务所必需、不需要你同意的处理，"
        "也一并列明。",
        "sep": "、",
        "colon": "：",
        "labelled": "{label}（{tag}）",
        "h_who": "一、我们是谁",
        "address": "地址",
        "contact": "联系方式",
        "email": "电子邮箱",
        "phone": "电话",
        "officer_intro": "我们指定了个人信息保护负责人，负责监督我们的个人信息处理活动"
        "（《个人信息保护法》第五十二条）。你可以直接联系：",
        "h_summary": "二、我们处理哪些信息、为什么、保存多久",
        "summary_intro": "下表列出我们保存的每一项个人信息、使用它的用途和保存期限。"
        "保存期限届满后，我们会删除或者匿名化处理（《个人信息保护法》第十九条）。"
        "标有“敏感”的是敏感个人信息，见第四部分。",
        "col_info": "个人信息",
        "col_why": "用途",
        "col_how_long": "保存期限",
        "sensitive_mark": "（敏感）",
        "not_used": "目前不用于任何用途",
        "h_purposes": "三、各项用途",
        "basis": "法律依据",
        "info_used": "使用的个人信息",
        "who": "可以接触的人员",
        "shared_with": "向以下接收方提供",
        "none": "无",
        "tag_contract": "提供服务所必需",
        "tag_legal_obligation": "法律要求",
        "tag_consent": "需要你的同意",
        "basis_contract": "为订立、履行你作为一方当事人的合同所必需"
        "（《个人信息保护法》第十三条第一款第二项），不需要你另行同意。",
        "basis_legal_obligation": "为履行法定职责或者法定义务所必需"
        "（《个人信息保护法》第十三条第一款第三项），不需要你另行同意。",
        "basis_consent": "基于你的同意（《个人信息保护法》第十三条第一款第一项、第十四条）。"
        "你可以随时撤回同意，撤回与给予同意一样方便；撤回不影响撤回前基于同意已进行的处理。"
        "你拒绝或者撤回同意的，我们不会因此拒绝向你提供商品或者服务（第十五条、第十六条）。",
        "h_sensitive": "四、敏感个人信息",
        "sensitive_intro": "以下信息属于敏感个人信息：一旦泄露或者被非法使用，容易导致你的"
        "人格尊严受到侵害或者人身、财产安全受到危害（《个人信息保护法》第二十八条）。"
        "我们只在有特定目的和充分必要性时处理，只用于下面列出的用途，并采取严格的保护措施："
        "加密存储，在屏幕上屏蔽显示，只为说明了用途的访问开放，每次访问都有记录"
        "（第二十九条至第三十条）。不提供这些信息，我们可能无法完成相应的服务。",
        "used_for": "用于{purposes}。",
        "separate_consent_needed": "其中需要你同意的用途，我们会单独征求你的同意（第二十九条）。",
        "no_sensitive": "我们不处理敏感个人信息。",
        "kind_identity": "身份证件信息",
        "kind_financial_account": "金融账户信息",
        "kind_whereabouts": "行踪轨迹",
        "kind_biometric": "生物识别信息",
        "kind_health": "医疗健康信息",
        "kind_minor": "不满十四周岁未成年人的个人信息",
        "kind_other": "敏感个人信息",
        "children": "如果你是不满十四周岁的未成年人，请在父母或者其他监护人的陪同下阅读本政策，"
        "并在监护人同意后再向我们提供个人信息（《个人信息保护法》第三十一条）。",
        "h_recipients": "五、向他人提供",
        "recipients_intro": "我们只在下表所列的范围内向其他个人信息处理者提供你的个人信息"
        "（《个人信息保护法》第二十三条）。接收方只能在所列用途和范围内处理；"
        "超出的，须重新取得你的同意。",
        "col_recipient": "接收方",
        "col_country": "所在国家或地区",
        "col_purposes": "用途",
        "col_fields": "个人信息",
        "col_contact": "联系方式",
        "recipient_consent": "需要你单独同意",
        "recipient_no_consent": "提供服务所必需",
        "cross_border": "{recipient}位于境外，向其提供你的个人信息属于个人信息出境，"
        "我们会取得你的单独同意（《个人信息保护法》第三十八条、第三十九条）。",
        "no_recipients": "我们不向其他个人信息处理者提供你的个人信息。",
        "h_rights": "六、你的权利",
        "rights_intro": "对于你的个人信息，你享有以下权利：",
        "how_to": "行使权利的方式：",
        "privacy_center": "在隐私中心自行操作：",
        "by_email": "发送电子邮件至：",
        "by_phone": "拨打电话：",
        "response": "我们自收到你的请求之日起 {days} 个工作日内答复"
        "（核实你的身份所需的时间也计算在内）；拒绝你的请求的，会说明理由"
        "（《个人信息保护法》第五十条）。",
        "h_changes": "七、本政策的更新",
        "changes_text": "我们的处理活动发生变化时，会发布新版本的政策，"
        "并在开头写明版本号和发布日期。"
        "新版本增加了你未曾同意的处理（新的用途、某项用途使用的新的个人信息、新的接收方）的，"
        "我们会重新征求你的同意：在你答复之前，相关的同意暂停生效，新的处理不会开始。",
        "ret_account_closure_0": "保存至你注销账户时",
        "ret_account_closure": "注销账户后 {days} 天",
        "ret_collection_0": "收集后即删除",
        "ret_collection": "自收集之日起 {days} 天",
        "ret_last_transaction_0": "保存至最后一次交易时",
        "ret_last_transaction": "自最后一次交易之日起 {days} 天",
        "ret_other": "{event}后 {days} 天",
        "years": "（{years} 年）",
        "year": "（1 年）",
        "because": "{period}（{basis}）",
    },
    "en": {
        "title": "Privacy notice",
        "draft": "Draft, not yet published",
        "version": "Version {version}, published {date}",
        "fingerprint": "SHA-256 fingerprint of this version",
        "intro": "This notice explains what personal information {controller} (“we”) "
        "processes about you, why, how long we keep it, who else receives it, and how you can "
        "exercise your rights. Processing we need to provide the service, which does not ask "
        "for your consent, is listed too.",
        "sep": ", ",
        "colon": ": ",
        "labelled": "{label} ({tag})",
        "h_who": "1. Who we are",
        "address": "Address",
        "contact": "Contact",
        "email": "Email",
        "phone": "Phone",
        "officer_intro": "Our personal-information protection officer supervises how we "
        "process personal information (PIPL Art. 52). You can contact them directly:",
        "h_summary": "2. What we process, why, and for how long",
        "summary_intro": "The table lists each piece of personal information we keep, the "
        "purposes we use it for, and how long we keep it. When that time is up, we delete it "
        "or make it anonymous (PIPL Art. 19). Items marked “sensitive” are sensitive personal "
        "information; see section 4.",
        "col_info": "Personal information",
        "col_why": "Why we use it",
        "col_how_long": "How long we keep it",
        "sensitive_mark": " (sensitive)",
        "not_used": "Not used for any purpose at present",
        "h_purposes": "3. Purposes in detail",
        "basis": "Legal basis",
        "info_used": "Personal information used",
        "who": "Who can access it",
        "shared_with": "Given to",
        "none": "None",
        "tag_contract": "needed to provide the service",
        "tag_legal_obligation": "required by law",
        "tag_consent": "needs your consent",
        "basis_contract": "Necessary to enter into or perform the contract you are a party "
        "to ({pipl}; {gdpr}). We do not ask for your consent for this.",
        "basis_legal_obligation": "Necessary to meet a legal duty ({pipl}; {gdpr}). We do not "
        "ask for your consent for this.",
        "basis_consent": "Your consent ({pipl}; {gdpr}). You can withdraw it at any time, as "
        "easily as you gave it; withdrawing does not affect what was done before. We will not "
        "refuse you goods or services because you refuse or withdraw consent.",
        "h_sensitive": "4. Sensitive personal information",
        "sensitive_intro": "The following is sensitive personal information: if it leaked or "
        "were misused, it could easily harm your dignity or your personal or financial safety "
        "(PIPL Art. 28). We process it only for a specific purpose and where it is truly "
        "necessary, we use it only for the purposes listed, and we protect it strictly: it is "
        "stored encrypted, masked on screens, opened only for a stated purpose, and every "
        "access is logged (PIPL Art. 29-30). Without it, we may not be able to provide the "
        "service concerned.",
        "used_for": "used for {purposes}.",
        "separate_consent_needed": "Where a use needs your consent, we ask for it separately "
        "(PIPL Art. 29).",
        "no_sensitive": "We do not process sensitive personal information.",
        "kind_identity": "identity document",
        "kind_financial_account": "financial account",
        "kind_whereabouts": "whereabouts",
        "kind_biometric": "biometric data",
        "kind_health": "health data",
        "kind_minor": "information about a child under 14",
        "kind_other": "sensitive personal information",
        "children": "If you are under 14, please read this notice with a parent or guardian, "
        "and give us personal information only with their consent (PIPL Art. 31).",
        "h_recipients": "5. Who else receives your information",
        "recipients_intro": "We give your personal information to other handlers only as "
        "listed below (PIPL Art. 23). They may use it only for the purposes and within the "
        "scope listed; anything more needs your consent again.",
        "col_recipient": "Recipient",
        "col_country": "Country or region",
        "col_purposes": "Purposes",
        "col_fields": "Personal information",
        "col_contact": "Contact",
        "recipient_consent": "needs your separate consent",
        "recipient_no_consent": "needed to provide the service",
        "cross_border": "{recipient} is outside the country or region where we are: giving it "
        "your information is a cross-border transfer, for which we ask your separate consent "
        "(PIPL Art. 38-39).",
        "no_recipients": "We do not give your personal information to other handlers.",
        "h_rights": "6. Your rights",
        "rights_intro": "You have these rights over your personal information:",
        "how_to": "How to exercise them:",
        "privacy_center": "Do it yourself in the privacy center: ",
        "by_email": "Email us: ",
        "by_phone": "Call us: ",
        "response": "We answer within {days} working days of receiving your request (the time "
        "it takes to confirm who you are included); if we "
        "refuse a request, we tell you why (PIPL Art. 50).",
        "h_changes": "7. Changes to this notice",
        "changes_text": "When our processing changes, we publish a new version of this notice "
        "with its version number and date at the top. If a new version adds processing you "
        "have not agreed to (a new purpose, new personal information for a purpose, or a new "
        "recipient), we ask you again: until you answer, the consents concerned are suspended "
        "and the new processing does not start.",
        "ret_account_closure_0": "Until you close your account",
        "ret_account_closure": "{days} days after you close your account",
        "ret_collection_0": "Deleted once used",
        "ret_collection": "{days} days after we collect it",
        "ret_last_transaction_0": "Until your last transaction",
        "ret_last_transaction": "{days} days after your last transaction",
        "ret_other": "{days} days after {event}",
        "years": " ({years} years)",
        "year": " (1 year)",
        "because": "{period} ({basis})",
    },
}

COUNTRIES: Mapping[str, Mapping[str, str]] = {
    "CN": {"zh-CN": "中国", "en": "China"},
    "HK": {"zh-CN": "中国香港", "en": "Hong Kong SAR, China"},
    "MO": {"zh-CN": "中国澳门", "en": "Macao SAR, China"},
    "SG": {"zh-CN": "新加坡", "en": "Singapore"},
    "JP": {"zh-CN": "日本", "en": "Japan"},
    "KR": {"zh-CN": "韩国", "en": "South Korea"},
    "US": {"zh-CN": "美国", "en": "United States"},
    "GB": {"zh-CN": "英国", "en": "United Kingdom"},
    "DE": {"zh-CN": "德国", "en": "Germany"},
    "FR": {"zh-CN": "法国", "en": "France"},
    "IE": {"zh-CN": "爱尔兰", "en": "Ireland"},
    "NL": {"zh-CN": "荷兰", "en": "Netherlands"},
}

# Markdown syntax characters (CommonMark lets any ASCII punctuation be backslash-escaped), and
# `&`, so text cannot open an entity, a link, raw HTML or a new table cell.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~&])")


def markdown_escape(value: object) -> str:
    """Text safe inside a Markdown paragraph or table cell: one line, syntax escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _date(at: datetime, locale: str) -> str:
    if locale == "zh-CN":
        return f"{at.year}年{at.month}月{at.day}日"
    return f"{at.day} {at:%B} {at.year}"


def context(
    document: Mapping[str, Any],
    locale: str,
    fmt: str,
    *,
    version: int | None,
    published_at: datetime | None,
    content_hash_hex: str,
) -> dict[str, Any]:
    """Everything the templates use: the document, the words, and small helpers."""
    t = MESSAGES[locale]
    esc: Callable[[object], str] = markdown_escape if fmt == "markdown" else str

    def label(labels: Mapping[str, str] | None) -> str:
        labels = labels or {}
        return labels.get(locale) or labels.get("en") or next(iter(labels.values()), "")

    def tf(key: str, **values: object) -> str:
        """A sentence with values filled in (escaped for Markdown; HTML autoescapes it all)."""
        return t[key].format(**{k: esc(v) for k, v in values.items()})

    def lst(items: Iterable[str]) -> str:
        return t["sep"].join(items)

    def labels_of(items: Iterable[Mapping[str, Any]], key: str = "labels") -> list[str]:
        return [label(item[key]) for item in items]

    purpose_labels = {p["name"]: label(p["labels"]) for p in document.get("purposes", [])}
    recipient_names = {r["key"]: label(r["name"]) for r in document.get("recipients", [])}

    def purposes(names: Iterable[str]) -> str:
        return lst(purpose_labels.get(n, n) for n in names)

    def recipients(keys: Iterable[str]) -> str:
        return lst(recipient_names.get(k, k) for k in keys)

    def retention(r: Mapping[str, Any]) -> str:
        event, days = str(r["keep_until"]), int(r["days"])
        key = f"ret_{event}" + ("_0" if days == 0 else "")
        if key not in t:
            period = t["ret_other"].format(event=event.replace("_", " "), days=days)
        else:
            period = t[key].format(days=f"{days:,}" if locale == "en" else days)
        if days >= 365 and days % 365 == 0:
            years = days // 365
            period += t["year"] if years == 1 else t["years"].format(years=years)
        return t["because"].format(period=period, basis=label(r["basis"]))

    def basis(p: Mapping[str, Any]) -> str:
        lb = p["legal_basis"]
        return t[f"basis_{lb['basis']}"].format(pipl=lb["pipl"], gdpr=lb["gdpr"])

    def kind(name: str) -> str:
        return t.get(f"kind_{name}", t["kind_other"])

    def country(code: str) -> str:
        return COUNTRIES.get(code, {}).get(locale, code)

    return {
        "doc": document,
        "lang": locale,
        "t": t,
        "tf": tf,
        "L": label,
        "lst": lst,
        "labels_of": labels_of,
        "purposes": purposes,
        "recipients": recipients,
        "retention": retention,
        "basis": basis,
        "kind": kind,
        "country": country,
        "valid_email": lambda v: isinstance(v, str) and bool(EMAIL.match(v)),
        "valid_url": lambda v: isinstance(v, str) and bool(URL.match(v)),
        "version": version,
        "published": _date(published_at, locale) if published_at else None,
        "content_hash": content_hash_hex,
    }
