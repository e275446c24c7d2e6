"""The words of the reports, in each locale (zh-CN and en; every key exists in both, which
tests/unit/test_reports_rules.py checks). The reports are for the protection officer and a
regulator, so they name the law they answer and the module that does the work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MESSAGES: Mapping[str, Mapping[str, str]] = {
    "zh-CN": {
        "ropa_title": "个人信息处理活动记录",
        "pia_title": "个人信息保护影响评估报告",
        "checklist_title": "合规要求对照表",
        "generated": "生成时间：{at}",
        "sources": "依据：数据目录 {catalog}；访问策略 {policy}；告知配置 {notice}",
        "h_controller": "个人信息处理者",
        "contact": "联系方式",
        "h_activities": "处理活动",
        "h_registry": "接收方登记",
        "h_security": "安全措施",
        "activity": "处理活动：{label}（{name}）",
        "description": "说明",
        "legal_basis": "法律依据",
        "basis_contract": "订立、履行合同所必需",
        "basis_legal_obligation": "履行法定义务所必需",
        "basis_consent": "个人同意（可随时撤回）",
        "subjects": "个人信息主体",
        "subject_customers": "平台的消费者（客户）",
        "subject_minors_with_guardian": "不满十四周岁的未成年人（经监护人同意）",
        "categories": "个人信息种类",
        "automated": "自动化决策",
        "none": "无",
        "yes": "是",
        "no": "否",
        "col_field": "个人信息",
        "col_category": "类别",
        "col_sensitive": "敏感",
        "col_masking": "屏蔽规则",
        "col_retention": "保存期限",
        "col_basis": "保存依据",
        "h_access": "可以接触的人员",
        "col_rule": "规则",
        "col_roles": "角色",
        "col_actions": "操作",
        "col_view": "最多显示",
        "col_when": "条件",
        "h_recipients": "接收方",
        "col_recipient": "接收方",
        "col_role": "身份",
        "col_country": "国家或地区",
        "col_cross_border": "出境",
        "col_agreement": "协议",
        "col_fields": "个人信息",
        "col_agreement_retention": "协议保存期限",
        "col_in_force": "有效",
        "col_registered": "已登记",
        "entrusted": "受托人（第二十一条）",
        "independent": "其他个人信息处理者（第二十三条）",
        "no_recipients": "没有登记的接收方为此用途接收个人信息。",
        "declared_recipients": "隐私政策中列明的接收方",
        "pia_needed": "需要事前进行个人信息保护影响评估（《个人信息保护法》第五十五条）：{cases}",
        "pia_not_needed": "不属于《个人信息保护法》第五十五条规定的情形。",
        "pia_linked": "关联的评估：{id}",
        "pia_unlinked": "策略中尚未关联已签署的评估。",
        "days": "{days} 天",
        "keep_account_closure": "账户注销时删除",
        "keep_account_closure_days": "账户注销后 {days} 天",
        "keep_collection": "收集后 {days} 天",
        "keep_last_transaction": "最后一笔交易后 {days} 天（账户注销后限制处理）",
        "keep_last_activity": "最后一次活动后 {days} 天",
        "measure_encryption": (
            "每一项个人信息单独用 AES-256-GCM 加密（随机 96 位 nonce，关联数据绑定主体、字段和密钥"
            "版本），每位客户一把数据密钥，数据密钥由 {provider} 密钥提供方的主密钥包裹。"
        ),
        "measure_shredding": (
            "删除客户时销毁其数据密钥（加密擦除），所有副本（包括备份）随之不可读；法律要求保存的交"
            "易记录限制处理至期满。"
        ),
        "measure_blind_index": (
            "可检索字段（{fields}）只保存盲索引：HMAC-SHA256，按字段用 HKDF 派生密钥，数据库中不比"
            "较明文。"
        ),
        "measure_masking": (
            "{fields} 个字段各有屏蔽显示规则（GB/T 35273-2020 第 7.2 条）；快递面单另用更严格的规则"
            "（{waybill}，GB/T 41833-2022）。"
        ),
        "measure_gate": (
            "所有读取都经过唯一的访问关口：默认拒绝，按用途授权，{rules} 条规则，每个决定都写明所依"
            "据的规则；敏感个人信息只为 {plain_sensitive} 明文显示，加载策略时即拒绝其他情形。"
        ),
        "measure_consent": (
            "超出交易所需的用途（{purposes}）在关口处查询同意记录；撤回立即生效；向第三方提供和出境"
            "需要单独同意。"
        ),
        "measure_access_log": (
            "每个访问决定写入访问日志，日志按 RFC 6962 组织为 Merkle 树，树头由 Ed25519 签名（{inte"
            "rval}）；消费者可获得包含证明，审计员可用公钥独立验证。"
        ),
        "measure_access_log_server": "服务进程每 {seconds} 秒排序并签名",
        "measure_access_log_scheduled": "由定时运行的 privguard audit sequence 排序并签名",
        "measure_retention": (
            "保存期限由数据目录规定；privguard retention run 删除或匿名化到期的字段（{live}）；交易"
            "记录（{kept}）在账户删除后限制处理至期满。"
        ),
        "measure_sharing": (
            "个人信息只在有效协议范围内、经过关口向已登记的接收方（当前 {recipients} 个）提供，每次"
            "提供都有记录；境外接收方需要个人的单独同意。"
        ),
        "where": "实现",
        "law": "依据",
        "h_cases": "评估情形（《个人信息保护法》第五十五条）",
        "h_risks": "识别到的风险",
        "no_risks": "数据地图未显示可自动识别的风险。",
        "risk_high": "高",
        "risk_medium": "中",
        "col_level": "等级",
        "col_risk": "风险",
        "risk_sensitive_plain": "规则 {rule} 向 {roles} 明文显示敏感个人信息 {fields}。",
        "risk_partner_without_agreement": (
            "规则 {rule} 允许合作方读取，但不以共享协议为条件：关口不核对协议、约定字段和出境同意。"
        ),
        "risk_no_agreement_not_in_force": (
            "接收方 {recipient} 有涉及此用途的协议，但没有一份当前有效。"
        ),
        "risk_no_agreement_no_organisation": (
            "隐私政策列明的接收方 {recipient} 没有对应已登记的组织，无法核对协议。"
        ),
        "risk_no_agreement_not_registered": (
            "隐私政策列明的接收方 {recipient} 的组织未在接收方登记中。"
        ),
        "risk_no_agreement_no_agreement": (
            "隐私政策列明的接收方 {recipient} 已登记，但没有涵盖此用途的有效协议。"
        ),
        "risk_retention_longer": (
            "与 {recipient} 的协议 {agreement} 约定保存 {field} {agreement_days} 天，数据目录规定 {"
            "field_days} 天。"
        ),
        "risk_cross_border_unconsented": "境外接收方 {recipient}（{country}）：{reasons}。",
        "reason_not_in_notice": (
            "隐私政策未以其组织标识列明其在境外，因而无法向个人征求出境的单独同意（第三十九条）"
        ),
        "reason_gate_cannot_ask": "此用途有不以协议为条件的合作方规则，关口不会核对出境同意",
        "h_questions": "评估问题与回答",
        "unanswered": "（尚未回答）",
        "h_signoff": "签署",
        "status_draft": "草稿：尚未签署",
        "signed": "由 {by} 于 {at} 签署；结论：{outcome}",
        "outcome_approved": "同意开展",
        "outcome_rejected": "不同意开展",
        "content_hash": "签署内容的 SHA-256 摘要：{hash}",
        "intact": "内容与签署时一致。",
        "altered": "警告：内容与签署时的摘要不一致！",
        "kept_until": "保存至 {date}（《个人信息保护法》第五十六条：至少三年）",
        "assessment": "评估编号 {id}，用途 {purpose}，创建于 {at}",
        "template": "评估模板版本 {version}",
        "col_law": "法规",
        "col_item": "条款",
        "col_feature": "privguard 功能",
        "col_tests": "测试",
        "col_status": "状态",
        "status_open": "未覆盖",
        "status_covered": "有测试（未运行）",
        "status_pass": "通过",
        "status_fail": "失败",
        "status_skipped": "跳过",
    },
    "en": {
        "ropa_title": "Records of processing activities",
        "pia_title": "Personal-information impact assessment",
        "checklist_title": "Requirement checklist",
        "generated": "Generated {at}",
        "sources": "From: catalog {catalog}; access policy {policy}; notice config {notice}",
        "h_controller": "Personal-information handler",
        "contact": "Contact",
        "h_activities": "Processing activities",
        "h_registry": "Recipient registry",
        "h_security": "Security measures",
        "activity": "Processing activity: {label} ({name})",
        "description": "Description",
        "legal_basis": "Legal basis",
        "basis_contract": "Necessary for a contract with the individual",
        "basis_legal_obligation": "Necessary for a legal obligation",
        "basis_consent": "The individual's consent (withdrawable at any time)",
        "subjects": "Data subjects",
        "subject_customers": "The platform's consumers (customers)",
        "subject_minors_with_guardian": "Minors under 14 (with a guardian's consent)",
        "categories": "Categories of personal information",
        "automated": "Automated decisions",
        "none": "none",
        "yes": "yes",
        "no": "no",
        "col_field": "Personal information",
        "col_category": "Category",
        "col_sensitive": "Sensitive",
        "col_masking": "Masking rule",
        "col_retention": "Retention",
        "col_basis": "Retention basis",
        "h_access": "Who can access it",
        "col_rule": "Rule",
        "col_roles": "Roles",
        "col_actions": "Actions",
        "col_view": "Shows at most",
        "col_when": "When",
        "h_recipients": "Recipients",
        "col_recipient": "Recipient",
        "col_role": "Role",
        "col_country": "Country",
        "col_cross_border": "Cross-border",
        "col_agreement": "Agreement",
        "col_fields": "Personal information",
        "col_agreement_retention": "Agreed retention",
        "col_in_force": "In force",
        "col_registered": "Registered",
        "entrusted": "Entrusted processor (Art. 21)",
        "independent": "Another handler (Art. 23)",
        "no_recipients": "No registered recipient receives personal information for this purpose.",
        "declared_recipients": "Recipients declared in the privacy notice",
        "pia_needed": (
            "Needs a personal-information impact assessment before it starts (PIPL Art. 55): "
            "{cases}"
        ),
        "pia_not_needed": "Not one of the cases of PIPL Art. 55.",
        "pia_linked": "Linked assessment: {id}",
        "pia_unlinked": "No signed assessment is linked in the policy yet.",
        "days": "{days} days",
        "keep_account_closure": "deleted when the account is closed",
        "keep_account_closure_days": "{days} days after the account is closed",
        "keep_collection": "{days} days after collection",
        "keep_last_transaction": (
            "{days} days after the last transaction (restricted after the account is closed)"
        ),
        "keep_last_activity": "{days} days after the last activity",
        "measure_encryption": (
            "Every personal-information value is encrypted on its own with AES-256-GCM (random "
            "96-bit nonce; associated data binds it to subject, field and key version) under a "
            "data key per customer; data keys are wrapped by the master key of the {provider} key "
            "provider."
        ),
        "measure_shredding": (
            "Deleting a customer destroys their data key (crypto-shredding), so every copy, "
            "backups included, becomes unreadable; transaction records the law keeps stay "
            "restricted until their period ends."
        ),
        "measure_blind_index": (
            "Searchable fields ({fields}) are found through blind indexes only: HMAC-SHA256 with a "
            "per-field key derived by HKDF; no value is compared in clear in the database."
        ),
        "measure_masking": (
            "Each of the {fields} fields has a masking rule for screens (GB/T 35273-2020 7.2); "
            "express waybills use stricter rules ({waybill}; GB/T 41833-2022)."
        ),
        "measure_gate": (
            "Every read passes one gate: default deny, bound to a purpose, {rules} rules, and "
            "every decision names the rule that made it; sensitive information is shown plain only "
            "for {plain_sensitive}, and the policy loader refuses anything else."
        ),
        "measure_consent": (
            "Purposes beyond the transaction ({purposes}) ask the consent ledger at the gate; a "
            "withdrawal works at once; providing to third parties and transfers abroad need "
            "separate consent."
        ),
        "measure_access_log": (
            "Every access decision is written to the access log, a Merkle tree as in RFC 6962 "
            "whose tree heads are signed with Ed25519 ({interval}); consumers get inclusion proofs "
            "and auditors verify with the public key alone."
        ),
        "measure_access_log_server": "sequenced and signed by each server every {seconds} s",
        "measure_access_log_scheduled": (
            "sequenced and signed by a scheduled privguard audit sequence"
        ),
        "measure_retention": (
            "Retention periods come from the catalog; privguard retention run deletes or "
            "anonymises expired values ({live}); transaction records ({kept}) stay restricted "
            "after an account is deleted until their period ends."
        ),
        "measure_sharing": (
            "Personal information leaves only through the gate, to registered recipients "
            "({recipients} now), within an agreement in force, and every transfer is recorded; "
            "recipients abroad need the individual's separate consent."
        ),
        "where": "Where",
        "law": "Law",
        "h_cases": "Cases assessed (PIPL Art. 55)",
        "h_risks": "Risks found",
        "no_risks": "The data map shows no risk that can be detected automatically.",
        "risk_high": "high",
        "risk_medium": "medium",
        "col_level": "Level",
        "col_risk": "Risk",
        "risk_sensitive_plain": (
            "Rule {rule} shows sensitive information ({fields}) plain to {roles}."
        ),
        "risk_partner_without_agreement": (
            "Rule {rule} lets partners read without resting on a sharing agreement: the gate "
            "checks no agreement, agreed fields or transfer consent."
        ),
        "risk_no_agreement_not_in_force": (
            "Recipient {recipient} has agreements for this purpose but none is in force."
        ),
        "risk_no_agreement_no_organisation": (
            "The notice declares recipient {recipient} but names no registered organisation, so no "
            "agreement can be checked for it."
        ),
        "risk_no_agreement_not_registered": (
            "The organisation of declared recipient {recipient} is not in the recipient registry."
        ),
        "risk_no_agreement_no_agreement": (
            "Declared recipient {recipient} is registered but has no agreement in force covering "
            "this purpose."
        ),
        "risk_retention_longer": (
            "Agreement {agreement} with {recipient} keeps {field} {agreement_days} days; the "
            "catalog keeps it {field_days} days."
        ),
        "risk_cross_border_unconsented": "Recipient abroad {recipient} ({country}): {reasons}.",
        "reason_not_in_notice": (
            "the notice does not declare it abroad under its organisation id, so consumers cannot "
            "be asked the separate consent to the transfer (Art. 39)"
        ),
        "reason_gate_cannot_ask": (
            "a partner rule for this purpose does not rest on an agreement, so the gate does not "
            "ask for the transfer consent"
        ),
        "h_questions": "Questions and answers",
        "unanswered": "(not answered yet)",
        "h_signoff": "Sign-off",
        "status_draft": "Draft: not signed",
        "signed": "Signed by {by} at {at}; outcome: {outcome}",
        "outcome_approved": "approved",
        "outcome_rejected": "rejected",
        "content_hash": "SHA-256 of the signed content: {hash}",
        "intact": "The content is as signed.",
        "altered": "WARNING: the content does not match the signed hash!",
        "kept_until": "Kept until {date} (PIPL Art. 56: at least three years)",
        "assessment": "Assessment {id} of purpose {purpose}, created {at}",
        "template": "Template version {version}",
        "col_law": "Law",
        "col_item": "Item",
        "col_feature": "privguard feature",
        "col_tests": "Tests",
        "col_status": "Status",
        "status_open": "open",
        "status_covered": "has tests (not run)",
        "status_pass": "pass",
        "status_fail": "fail",
        "status_skipped": "skipped",
    },
}

ROLE_NAMES: Mapping[str, Mapping[str, str]] = {
    "consumer": {"zh-CN": "消费者本人", "en": "the consumer"},
    "merchant_staff": {"zh-CN": "商家店员", "en": "merchant staff"},
    "customer_service": {"zh-CN": "平台客服", "en": "customer service"},
    "courier": {"zh-CN": "快递员", "en": "couriers"},
    "marketing": {"zh-CN": "营销人员", "en": "marketing"},
    "analyst": {"zh-CN": "数据分析人员", "en": "analysts"},
    "platform_admin": {"zh-CN": "平台运营管理人员", "en": "platform operators"},
    "privacy_officer": {"zh-CN": "个人信息保护负责人", "en": "the protection officer"},
    "auditor": {"zh-CN": "审计人员", "en": "auditors"},
    "partner": {"zh-CN": "合作方（第三方）", "en": "partners (third parties)"},
}


def message(locale: str, key: str, **params: Any) -> str:
    """One sentence in ``locale`` with its placeholders filled."""
    return MESSAGES[locale][key].format(**params)


def role_name(role: str, locale: str) -> str:
    return (ROLE_NAMES.get(role) or {}).get(locale) or role


def label(labels: Mapping[str, str] | None, locale: str, fallback: str = "") -> str:
    labels = labels or {}
    return labels.get(locale) or labels.get("en") or fallback
