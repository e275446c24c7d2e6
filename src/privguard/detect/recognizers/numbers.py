"""Recognizers of numbers: phone numbers, resident ID numbers, bank cards, passports, USCCs, QQ.

Phone, ID and card numbers share one candidate pass (:func:`digit_runs`): a run of digits that
may be grouped by single spaces or dashes (138 1234 5678, 6222-0212-3456-7890-123), may start with
``+``, ``00`` or an area code in brackets, and may end in X (ID numbers). A run never starts or
ends next to another digit or an ASCII letter, so an order code such as SO2024050113812345678
yields no candidate, while 电话13812345678谢谢 yields the whole number. When a whole run is not
valid, the recognizer tries the runs of consecutive groups inside it (two numbers separated by
one space form a single run).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from privguard.detect.rules import Candidate, Doc, PatternRecognizer

DIGIT_RUN = re.compile(
    r"(?<![0-9A-Za-z])(?:\+|\(\+?[0-9]{1,4}\) ?)?[0-9](?:[ \-]?[0-9]|\([0-9]{2,4}\) ?[0-9])*"
    r"(?:[Xx](?![A-Za-z0-9]))?(?![0-9])"
)
GROUP = re.compile(r"\+?[0-9]+[Xx]?")
MAX_GROUPS = 10

# Words that say a number is a business or logistics identifier, not a person's.
BUSINESS_CONTEXT = (
    "订单", "单号", "运单", "快递", "物流", "编号", "货号", "工单", "流水号", "交易号", "批次",
    "sku", "order", "tracking", "invoice", "ref", "型号", "条码",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Run:
    start: int
    end: int
    groups: tuple[tuple[int, int], ...]  # digit groups between separators
    parts: tuple[str, ...]  # the text of each group
    compact: str  # the run without separators


def digit_runs(doc: Doc) -> list[Run]:
    """The digit runs of ``doc``, found once and shared by every number recognizer."""
    runs = doc.cache.get("digit_runs")
    if runs is None:
        text = doc.text
        runs = []
        if doc.has_digit:
            for m in DIGIT_RUN.finditer(text):
                s, e = m.span()
                if e - s < 5:
                    continue
                value = m.group()
                if value.isdigit():  # the usual case: no separators
                    runs.append(Run(s, e, ((s, e),), (value,), value))
                    continue
                found = list(GROUP.finditer(text, s, e))
                parts = tuple(g.group() for g in found)
                runs.append(Run(s, e, tuple(g.span() for g in found), parts, "".join(parts)))
        doc.cache["digit_runs"] = runs
    return runs  # type: ignore[return-value]


def compact(value: str) -> str:
    """The value without separators (a leading ``+`` is kept)."""
    out = re.sub(r"[^0-9Xx+]", "", value)
    return out[0] + out[1:].replace("+", "") if out else out


class NumberRecognizer(PatternRecognizer):
    """A recognizer fed by :func:`digit_runs`; subclasses define :meth:`score_compact`."""

    needs_digit = True
    negative_context = BUSINESS_CONTEXT
    min_digits: ClassVar[int] = 5
    max_digits: ClassVar[int] = 20

    def score_compact(self, value: str) -> float | None:
        raise NotImplementedError

    def validate(self, value: str) -> float | None:
        return self.check(compact(value))

    def check(self, c: str) -> float | None:
        n = len(c) - c.startswith("+")
        if n < self.min_digits or n > self.max_digits:
            return None
        return self.score_compact(c)

    def find(self, doc: Doc) -> Iterator[Candidate]:
        for run in digit_runs(doc):
            score = self.check(run.compact)
            if score is not None:
                yield Candidate(run.start, run.end, self.adjust(doc, run.start, score))
                continue
            k = min(len(run.groups), MAX_GROUPS)
            if k < 2:
                continue
            parts, groups = run.parts, run.groups
            cum = [0]
            for part in parts[:k]:
                cum.append(cum[-1] + len(part))
            lo, hi = self.min_digits, self.max_digits + 1
            i = 0
            while i < k:
                for j in range(k, i, -1):
                    if i == 0 and j == len(groups):
                        continue  # the whole run, tried above
                    if not lo <= cum[j] - cum[i] <= hi:
                        continue
                    score = self.check("".join(parts[i:j]))
                    if score is not None:
                        s = groups[i][0]
                        yield Candidate(s, groups[j - 1][1], self.adjust(doc, s, score))
                        i = j
                        break
                else:
                    i += 1


# ------------------------------------------------------------------------------------ phone
_EXCLUDED_TYPES = frozenset(
    {
        PhoneNumberType.TOLL_FREE,  # 800 numbers: businesses
        PhoneNumberType.SHARED_COST,  # 400 numbers: business hotlines
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.UAN,
        PhoneNumberType.VOICEMAIL,
    }
)
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


@lru_cache(maxsize=65536)
def phone_score(value: str) -> float | None:
    """Base score of a compact number (``+`` kept), or None. Keeps what ``phonenumbers`` calls a
    valid number (the VALID leniency of its matcher): region CN for national numbers (mobile
    1xxxxxxxxxx, landline 0 + area code + number), the number's own country for ``+``/``00``.

    National numbers are handed to ``phonenumbers`` already split into country code and
    national number: its ``parse`` spends most of its time on normalising free text, which the
    candidate finder has already done (32 µs against 10 µs a number)."""
    digits = value.lstrip("+")
    if not digits.isdigit():
        return None
    if value.startswith("+"):
        number = _parse(value)
    elif digits.startswith("00") and len(digits) >= 11:
        number = _parse("+" + digits[2:])
    elif digits.startswith("861") and len(digits) == 13:
        number = PhoneNumber(country_code=86, national_number=int(digits[2:]))
    elif digits[0] == "1" and len(digits) == 11:
        number = PhoneNumber(country_code=86, national_number=int(digits))
    elif digits[0] == "0" and 10 <= len(digits) <= 12 and digits[1] != "0":
        number = PhoneNumber(country_code=86, national_number=int(digits[1:]))
    else:
        return None
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    kind = phonenumbers.number_type(number)
    if kind in _EXCLUDED_TYPES:
        return None
    return 0.85 if kind in _MOBILE_TYPES else 0.7


def _parse(number: str) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(number, None)
    except NumberParseException:
        return None


def clear_caches() -> None:
    """Forget validated values (benchmarks measure cold caches, as on unique data)."""
    phone_score.cache_clear()
    _ric_valid.cache_clear()


class PhoneRecognizer(NumberRecognizer):
    name = "phone"
    entity_type = "PHONE_NUMBER"
    min_digits = 7
    max_digits = 16
    context = (
        "电话", "手机", "联系", "致电", "来电", "号码", "手机号", "微信同号", "打", "拨",
        "tel", "phone", "mobile", "call", "cell", "contact",
    )  # fmt: skip
    context_boost = 0.15

    def score_compact(self, value: str) -> float | None:
        return phone_score(value)


# ------------------------------------------------------------------------------- resident ID
class ResidentIdRecognizer(NumberRecognizer):
    """18-character PRC resident ID numbers: region, birth date and check digit (X or x)."""

    name = "cn_resident_id"
    entity_type = "CN_RESIDENT_ID"
    languages = frozenset({"zh", "en"})
    min_digits = 18
    max_digits = 18
    context = ("身份证", "证件号", "身份号", "id number", "id card", "公民身份")
    negative_context = ()
    context_boost = 0.05

    def score_compact(self, value: str) -> float | None:
        return 0.95 if _ric_valid(value.upper()) else None


_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))


@lru_cache(maxsize=16384)
def _ric_valid(value: str) -> bool:
    """The check character first (arithmetic, a microsecond), then ``stdnum`` for the birth
    date and the county code, only for the one number in eleven that passes."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    check = (12 - sum(int(d) * w for d, w in zip(value[:17], _RIC_WEIGHTS, strict=True)) % 11) % 11
    if value[17] != ("X" if check == 10 else str(check)):
        return False
    try:
        born = ric.get_birth_date(value)
    except ValidationError:
        return False
    return _county_known(value, born.year)


_COUNTY_YEARS: dict[tuple[str, int], bool] = {}


def _county_known(value: str, year: int) -> bool:
    """``stdnum``'s county check (was the code assigned in the birth year?), remembered per
    (county, year): its table lookup costs about a millisecond and counties repeat endlessly.
    Bounded: at most a few thousand counties times a century of years."""
    key = (value[:6], year)
    known = _COUNTY_YEARS.get(key)
    if known is None:
        try:
            ric.get_birth_place(value)
            known = True
        except ValidationError:
            known = False
        _COUNTY_YEARS[key] = known
    return known


# -------------------------------------------------------------------------------- bank card
def _known_iin(d: str) -> bool:
    """Issuer prefixes of the card schemes seen in China (UnionPay 62, Visa, Mastercard, Amex,
    JCB, Discover, Diners, and the domestic 9-prefixed debit cards)."""
    two = int(d[:2])
    four = int(d[:4])
    return (
        d[0] in "49"
        or two == 62
        or 51 <= two <= 55
        or 2221 <= four <= 2720
        or two in (34, 37, 35, 30, 36, 38, 60, 65)
    )


class BankCardRecognizer(NumberRecognizer):
    """13-19 digits passing Luhn; without context only with a known issuer prefix."""

    name = "bank_card"
    entity_type = "BANK_CARD"
    min_digits = 13
    max_digits = 19
    context = (
        "卡号", "银行卡", "储蓄卡", "信用卡", "借记卡", "银联", "账号", "帐号", "开户行",
        "打款", "转账", "汇款", "退款到", "退到", "卡", "card", "visa", "mastercard",
        "account",
    )  # fmt: skip

    def score_compact(self, value: str) -> float | None:
        if not value.isdigit() or not luhn.is_valid(value):
            return None
        return 0.6 if _known_iin(value) else 0.3


# --------------------------------------------------------------------------------- passport
class PassportRecognizer(PatternRecognizer):
    """PRC passports (E + 8 digits, E + letter + 7 digits, older G + 8 digits, and the
    diplomatic, service and public-affairs D/S/P series): only with context such as 护照."""

    name = "passport"
    entity_type = "PASSPORT"
    # The boundary check follows the first character, so the regex engine can skip ahead to
    # the next E, G, D, S or P instead of testing a look-behind at every position.
    pattern = re.compile(
        r"[EGDSP](?<![A-Za-z0-9][EGDSP])"
        r"(?:(?<=E)[0-9]{8}|(?<=E)[A-HJ-NP-Z][0-9]{7}|(?<=G)[0-9]{8}|(?<=[DSP])E?[0-9]{7})"
        r"(?![A-Za-z0-9])"
    )
    needs_digit = True
    context = ("护照", "passport", "证件号", "证件号码", "旅行证件", "出境")
    context_boost = 0.6
    window = 16

    def validate(self, value: str) -> float | None:
        return 0.3


# ------------------------------------------------------------------------------------ USCC
class UsccRecognizer(PatternRecognizer):
    """Unified social credit codes of organisations (统一社会信用代码), check character verified."""

    name = "cn_uscc"
    entity_type = "CN_USCC"
    # The first 8 characters are digits (stdnum checks it too); starting with a digit class lets
    # the regex engine skip to the next digit.
    pattern = re.compile(
        r"[0-9](?<![0-9A-Za-z][0-9])[0-9]{7}[0-9A-HJ-NP-RTUW-Y]{10}(?![0-9A-Za-z])"
    )
    needs_digit = True
    context = ("信用代码", "营业执照", "税号", "纳税人识别号", "uscc", "tax id")
    negative_context = BUSINESS_CONTEXT
    context_boost = 0.3

    def validate(self, value: str) -> float | None:
        if not value[:8].isdigit() or not _uscc_check(value) or not uscc.is_valid(value):
            return None
        # One 18-digit number in 31 passes the check character: an all-digit code (an order
        # number, most likely) counts only with context.
        return 0.45 if value.isdigit() else 0.9


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_INDEX = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _uscc_check(value: str) -> bool:
    """The check character (GB 32100-2015), before ``stdnum`` confirms the whole code."""
    try:
        total = sum(_USCC_INDEX[c] * w for c, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    except KeyError:
        return False
    return value[17] == _USCC_ALPHABET[(31 - total) % 31]


# -------------------------------------------------------------------------------------- QQ
class QQRecognizer(PatternRecognizer):
    """QQ numbers are 5-11 digits like any other number, so only a number right after QQ,
    扣扣 or 企鹅号 counts."""

    name = "qq"
    entity_type = "QQ_NUMBER"
    languages = frozenset({"zh", "en"})
    pattern = re.compile(
        r"(?:qq|扣扣|企鹅)(?:号码|号)?\s*(?:[:是为]|号码|号)?\s*([1-9][0-9]{4,10})(?![0-9])",
        re.IGNORECASE,
    )
    group = 1
    needs_digit = True
    trigger = re.compile(r"qq|扣扣|企鹅")

    def spans(self, doc: Doc) -> Iterator[tuple[int, int]]:
        if self.trigger.search(doc.lower) is None:
            return
        yield from super().spans(doc)

    def validate(self, value: str) -> float | None:
        return 0.85
