"""Masking rules: turn a stored canonical value into a display-safe value (the ``masked`` view).

The rules follow GB/T 35273-2020 clause 7.2 ("restricting display": show personal information
only partially, e.g. hide part of a phone or ID number) and, for express waybills, the stricter
GB/T 41833-2022 (hide at least one character of the name, at least 6 digits of the phone number,
and never print the unit or room number).

Design rules every masker follows:

* **Pure.** No I/O, no clock, no global state: the same value always gives the same mask.
* **Fail closed.** Inputs are normally canonical values from the validators, but a rule must also
  cope with raw user input (full-width characters, surrounding spaces, spaces/dashes inside
  numbers). When a rule cannot parse a value it returns a fully hidden string, never the value:
  leaking is the worst possible failure, an unhelpful ``***`` is merely unhelpful.
* **Never raise** on an odd value: masked views are rendered for every field of a record, and one
  malformed legacy value must not break the whole response.
* **Show only what the rule names.** Where the hidden part is shown with one ``*`` per character
  the mask reveals the value's length and nothing else; bank cards always use one fixed shape so
  that not even the length leaks.

Rules are registered by name in :data:`MASKERS`; the catalog YAML refers to these names.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import phonenumbers

__all__ = ["MASKERS", "MaskFn", "mask"]

MaskFn = Callable[[Any], Any]

# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------

_HIDDEN = "***"
# Anything longer is not a real value of any masked field: hide it without normalising it.
_MAX_RAW = 4096
_DIGIT = re.compile(r"[0-9]")
_ALL_DIGITS = re.compile(r"[0-9]+")
_NUMBER_SEPARATORS = re.compile(r"[\s\-]+")


def _text(value: Any) -> str | None:
    """NFKC-normalise (full-width -> ASCII) and strip; ``None`` if not a string or absurdly long.

    Callers treat ``None`` as "cannot parse" and return their fully hidden form.
    """
    if not isinstance(value, str) or len(value) > _MAX_RAW:
        return None
    return unicodedata.normalize("NFKC", value).strip()


def _digits(text: str) -> str:
    """The ASCII digits of ``text`` in order (other characters dropped)."""
    return "".join(_DIGIT.findall(text))


def _keep_last4(digits: str, min_hidden: int) -> str:
    """One ``*`` per hidden digit; the last 4 are shown only if ``min_hidden`` digits stay hidden.

    Showing 4 digits of a short number would reveal most of it, so short numbers are fully hidden.
    """
    if not digits:
        return _HIDDEN
    if len(digits) - 4 >= min_hidden:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "*" * len(digits)


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

# Chinese compound surnames (复姓), simplified and traditional spellings. Keeping a compound
# surname whole matches how people read the name (欧阳娜娜 -> 欧阳**, not 欧***).
# fmt: off
_COMPOUND_SURNAMES = frozenset(
    [
        "欧阳", "太史", "端木", "上官", "司马", "东方", "独孤", "南宫", "万俟", "闻人",
        "夏侯", "诸葛", "尉迟", "公羊", "赫连", "澹台", "皇甫", "宗政", "濮阳", "公冶",
        "太叔", "申屠", "公孙", "慕容", "仲孙", "钟离", "长孙", "宇文", "司徒", "鲜于",
        "司空", "闾丘", "子车", "亓官", "司寇", "巫马", "公西", "颛孙", "壤驷", "公良",
        "漆雕", "乐正", "宰父", "谷梁", "拓跋", "夹谷", "轩辕", "令狐", "段干", "百里",
        "呼延", "东郭", "南门", "羊舌", "微生", "公户", "公玉", "公仪", "梁丘", "公仲",
        "公上", "公门", "公山", "公坚", "左丘", "公伯", "西门", "公祖", "第五", "公乘",
        "贯丘", "公皙", "南荣", "东里", "东宫", "仲长", "子书", "子桑", "即墨", "达奚",
        "褚师", "纳兰", "完颜", "哥舒", "淳于", "单于", "北堂", "相里", "胡母", "钟吾",
        "少正",
        # Traditional spellings (Hong Kong, Macao, Taiwan customers).
        "歐陽", "司馬", "獨孤", "南宮", "萬俟", "聞人", "諸葛", "尉遲", "赫連", "澹臺",
        "濮陽", "公孫", "鍾離", "鐘離", "長孫", "鮮于", "閭丘", "顓孫", "壤駟", "樂正",
        "穀梁", "軒轅", "東方", "東郭", "南門", "西門", "東里", "東宮", "納蘭", "完顏",
    ]
)
# fmt: on
# Middle-dot variants used in transliterated (e.g. Uyghur, Tibetan) names, after NFKC.
_NAME_DOTS = "·•‧・∙⋅.。"
# Punctuation kept as-is inside Latin-script names (it is not part of any letter).
_LATIN_NAME_PUNCT = frozenset("-'.’")


def _is_wide(ch: str) -> bool:
    """CJK ideographs, kana and hangul are East-Asian wide (full-width Latin was NFKC'd away)."""
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _mask_cjk_name(text: str) -> str:
    text = "".join(text.split())
    if any(ch in _NAME_DOTS for ch in text):
        # Transliterated names: keep the first character only; keep dots so the shape is familiar.
        text = text.strip(_NAME_DOTS)
        if len(text) <= 1:
            return "*"
        return text[0] + "".join("·" if ch in _NAME_DOTS else "*" for ch in text[1:])
    surname_len = 2 if text[:2] in _COMPOUND_SURNAMES else 1
    # At least one character is always hidden, so 张 -> * and 欧阳 -> 欧*.
    keep = min(surname_len, len(text) - 1)
    return text[:keep] + "*" * (len(text) - keep)


def _mask_latin_word(word: str) -> str:
    letters = sum(ch.isalpha() for ch in word)
    out = []
    kept = False
    for ch in word:
        if ch in _LATIN_NAME_PUNCT:
            out.append(ch)
        elif ch.isalpha() and not kept and letters > 1:
            out.append(ch)
            kept = True
        else:
            out.append("*")
    return "".join(out)


def mask_name(value: Any) -> str:
    """Keep the surname (Chinese) or each word's initial (Latin); hide the rest, 1 ``*`` a char.

    GB/T 41833-2022 requires at least one character of the recipient's name to be hidden on a
    waybill, and GB/T 35273-2020 7.2 asks for partial display on screens, so this rule serves both:
    the whole name is never shown, even for one-character names or bare compound surnames.
    """
    text = _text(value)
    if text is None:
        return _HIDDEN
    if not text:
        return ""
    if any(_is_wide(ch) for ch in text):
        return _mask_cjk_name(text)
    return " ".join(_mask_latin_word(word) for word in text.split())


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"[0-9+()\-. ]+")
_CN = 86
# Screen display: show a few digits only while at least this many stay hidden (138****5678).
_SCREEN_MIN_HIDDEN = 4
# GB/T 41833-2022: a waybill hides at least 6 digits of the phone number.
_WAYBILL_MIN_HIDDEN = 6


def _parse_phone(text: str) -> phonenumbers.PhoneNumber | None:
    """Parse like the validator does (default region CN); ``None`` if it does not parse."""
    if not _PHONE_CHARS.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, "CN")
    except Exception:  # NumberParseException, or any library quirk: fail closed, never raise
        return None
    if not phonenumbers.national_significant_number(number):
        return None
    return number


# The vault stores Chinese mobiles in E.164 (+86 and 11 digits); masking them is the hot path of
# every read, so they skip the phone-number parser (same result, a tenth of the time).
_CN_MOBILE_E164 = re.compile(r"\+861\d{10}")


def _mask_phone_number(number: phonenumbers.PhoneNumber) -> str:
    nsn = phonenumbers.national_significant_number(number)
    if number.country_code == _CN:
        if len(nsn) == 11:
            return f"{nsn[:3]}****{nsn[-4:]}"
        return _keep_last4(nsn, _SCREEN_MIN_HIDDEN)
    # The country code is not personal; it tells the reader the number is foreign.
    return f"+{number.country_code} {_keep_last4(nsn, _SCREEN_MIN_HIDDEN)}"


def mask_mobile(value: Any) -> str:
    """Screen display of a mobile number: ``138****5678`` (GB/T 35273-2020 7.2).

    Chinese numbers keep the carrier prefix and the last 4 digits; foreign ones keep the country
    code and the last 4 (``+1 ******2671``). Unparseable input keeps at most the last 4 digits.
    """
    text = _text(value)
    if not text:
        return _HIDDEN
    if _CN_MOBILE_E164.fullmatch(text):
        return f"{text[3:6]}****{text[-4:]}"
    number = _parse_phone(text)
    if number is None:
        return _keep_last4(_digits(text), _SCREEN_MIN_HIDDEN)
    return _mask_phone_number(number)


def mask_mobile_waybill(value: Any) -> str:
    """Waybill phone: only the last 4 digits, at least 6 hidden (``*******5678``, GB/T 41833-2022).

    The screen form ``138****5678`` hides only 4 digits, which the waybill standard forbids. If
    fewer than 6 digits would stay hidden the whole number is hidden.
    """
    text = _text(value)
    if not text:
        return _HIDDEN
    if _CN_MOBILE_E164.fullmatch(text):
        return _keep_last4(text[3:], _WAYBILL_MIN_HIDDEN)
    number = _parse_phone(text)
    digits = _digits(text) if number is None else phonenumbers.national_significant_number(number)
    return _keep_last4(digits, _WAYBILL_MIN_HIDDEN)


def mask_landline(value: Any) -> str:
    """A landline keeps its area code and last 4 digits: ``010-****5678`` (GB/T 35273-2020 7.2).

    The area code only names a city. Numbers without a geographical area code (or foreign ones)
    are masked like mobile numbers.
    """
    text = _text(value)
    if not text:
        return _HIDDEN
    number = _parse_phone(text)
    if number is None:
        return _keep_last4(_digits(text), _SCREEN_MIN_HIDDEN)
    if number.country_code != _CN:
        return _mask_phone_number(number)
    nsn = phonenumbers.national_significant_number(number)
    try:
        area_len = phonenumbers.length_of_geographical_area_code(number)
    except Exception:  # fail closed on any library quirk
        area_len = 0
    if not 0 < area_len < len(nsn):
        return _mask_phone_number(number)
    # Chinese area codes are written with the trunk prefix 0 (010, 0755).
    return f"0{nsn[:area_len]}-{_keep_last4(nsn[area_len:], _SCREEN_MIN_HIDDEN)}"


# --------------------------------------------------------------------------------------------
# Identity documents and payment
# --------------------------------------------------------------------------------------------

_RIC_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def _compact_upper(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return _NUMBER_SEPARATORS.sub("", text).upper()


def mask_id_number(value: Any) -> str:
    """PRC resident ID: keep the first 4 (region) and last 4; hide the birth date and the rest.

    ``11010519491231002X`` -> ``1101**********002X`` (GB/T 35273-2020 7.2 example). Other shapes
    keep only the first and last character, and very short ones are hidden completely.
    """
    compact = _compact_upper(value)
    if not compact:
        return _HIDDEN
    if _RIC_SHAPE.fullmatch(compact):
        return compact[:4] + "*" * 10 + compact[-4:]
    if len(compact) >= 6:
        return compact[0] + "*" * (len(compact) - 2) + compact[-1]
    return "*" * len(compact)


def mask_passport(value: Any) -> str:
    """Passport number: keep the first character (document type) and the last 3: ``E*****678``."""
    compact = _compact_upper(value)
    if not compact:
        return _HIDDEN
    if len(compact) >= 6:
        return compact[0] + "*" * (len(compact) - 4) + compact[-3:]
    return "*" * len(compact)


_CARD_HIDDEN = "****"


def mask_bank_card(value: Any) -> str:
    """Bank card: only the last 4 digits, always as ``**** **** **** 1234``.

    The fixed shape hides the card's length and issuer prefix (BIN) as well as the middle digits.
    """
    text = _text(value)
    if text is None:
        return _CARD_HIDDEN
    digits = _NUMBER_SEPARATORS.sub("", text)
    if not _ALL_DIGITS.fullmatch(digits) or len(digits) < 8:
        return _CARD_HIDDEN
    return f"**** **** **** {digits[-4:]}"


# A dotted domain of letters/digits/hyphens (Unicode letters allowed for IDNs).
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")


def mask_email(value: Any) -> str:
    """E-mail: keep the local part's first character and the domain: ``z***@qq.com``.

    The domain is usually a mail provider, not the person. A 1-character local part is hidden
    completely (``***@qq.com``); anything that does not look like an address becomes ``***``.
    """
    text = _text(value)
    if not text or "@" not in text:
        return _HIDDEN
    local, _, domain = text.rpartition("@")
    if not _DOMAIN.fullmatch(domain):
        return _HIDDEN
    domain = domain.lower()
    if len(local) <= 1:
        return f"{_HIDDEN}@{domain}"
    return f"{local[0]}{_HIDDEN}@{domain}"


_ACCOUNT_HIDDEN = "****"
_ACCOUNT_NUMBER_CHARS = re.compile(r"[\s\-+]+")


def mask_account(value: Any) -> str:
    """Alipay / WeChat Pay account: masked as the e-mail or phone it is, else ``ab****yz``.

    Payment accounts are usually an e-mail or a mobile number, which must be masked by those
    rules (otherwise the generic rule would show most of a phone number).
    """
    text = _text(value)
    if not text:
        return _ACCOUNT_HIDDEN
    if "@" in text:
        return mask_email(text)
    compact = _ACCOUNT_NUMBER_CHARS.sub("", text)
    if _ALL_DIGITS.fullmatch(compact) and len(compact) >= 11:
        return mask_mobile(text)
    if len(text) >= 8:
        return f"{text[:2]}{_ACCOUNT_HIDDEN}{text[-2:]}"
    return _ACCOUNT_HIDDEN


# --------------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------------

_ADDRESS_HIDDEN = "****"
# GB/T 2260 placeholder "cities" (e.g. 北京市 / 市辖区 / 东城区) that add nothing to the display.
_PLACEHOLDER_REGIONS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
# Region names are short; characters that mark street/building/unit/room detail never occur.
_REGION_MAX = 20
_DETAIL_CHARS = frozenset("号栋幢楼室巷弄村")
# Region suffixes by level. Longer names are allowed before the autonomous/special suffixes
# (积石山保安族东乡族撒拉族自治县).
_PROVINCE_SUFFIXES = frozenset({"省", "自治区", "特别行政区"})
_CITY_SUFFIXES = frozenset({"市", "自治州", "地区", "盟"})
_DISTRICT_SUFFIXES = frozenset({"区", "县", "旗", "自治县", "自治旗"})
_LONG_SUFFIXES = frozenset({"自治区", "特别行政区", "自治州", "自治县", "自治旗"})
_PLAIN_BASE_MAX = 8
_LONG_BASE_MAX = 12
# One administrative-division token at the start of the remaining text: a name of letters (no
# digits; no street/building markers, and after the first character no 镇/街/路/道 either, so
# "玉山镇开发区" is not taken for a district) followed by the shortest level suffix.
_ADMIN_TOKEN = re.compile(
    r"(?P<base>[^\W\d_号栋幢楼室巷弄村][^\W\d_号栋幢楼室巷弄村镇街路道]{0,11}?)"
    r"(?P<suffix>特别行政区|自治区|自治州|自治县|自治旗|地区|省|市|盟|区|县|旗)"
)
_ADDRESS_SEPARATORS = re.compile(r"[\s,、/|\-]+")


def _region_core(name: str) -> str:
    """``北京市`` and ``北京`` name the same municipality (but 吉林省 and 吉林市 differ)."""
    return name.removesuffix("市")


def _region_part(value: Any) -> str | None:
    """A province/city/district value fit for display, or ``None`` (dropped, never shown)."""
    text = _text(value)
    if not text:
        return None
    text = "".join(text.split())
    if (
        len(text) > _REGION_MAX
        or text in _PLACEHOLDER_REGIONS
        or any(ch.isdigit() or ch in _DETAIL_CHARS for ch in text)
    ):
        return None
    return text


def _mask_address_dict(value: dict[Any, Any]) -> str:
    kept: list[str] = []
    for key in ("province", "city", "district"):
        part = _region_part(value.get(key))
        # Municipalities repeat the province as the city (北京市 / 北京市 / 朝阳区).
        if part and all(_region_core(part) != _region_core(k) for k in kept):
            kept.append(part)
    if not kept:
        return _ADDRESS_HIDDEN
    return "".join(kept) + _ADDRESS_HIDDEN


def _mask_address_text(text: str) -> str:
    text = _ADDRESS_SEPARATORS.sub("", text)
    text = text.removeprefix("中华人民共和国").removeprefix("中国")
    kept: list[str] = []
    city_end = 0
    pos = 0
    for _ in range(6):
        match = _ADMIN_TOKEN.match(text, pos)
        if match is None:
            break
        base, suffix = match["base"], match["suffix"]
        if len(base) > (_LONG_BASE_MAX if suffix in _LONG_SUFFIXES else _PLAIN_BASE_MAX):
            break
        pos = match.end()
        token = match.group(0)
        if token in _PLACEHOLDER_REGIONS:
            continue
        if kept and _region_core(token) == _region_core(kept[-1]):
            continue  # 北京市北京市朝阳区: municipality written as province and city
        kept.append(token)
        if suffix in _DISTRICT_SUFFIXES:
            return "".join(kept) + _ADDRESS_HIDDEN
        if suffix in _CITY_SUFFIXES:
            city_end = len(kept)
    if city_end:
        return "".join(kept[:city_end]) + _ADDRESS_HIDDEN
    return _ADDRESS_HIDDEN


def mask_address(value: Any) -> str:
    """Keep province, city and district; replace street, building, unit and room with ``****``.

    GB/T 41833-2022 forbids showing the unit and room number on waybills, and GB/T 35273-2020 7.2
    asks for partial display; the district is enough to recognise an address on screen.
    ``{"province": "广东省", "city": "深圳市", "district": "南山区", "detail": ...}`` ->
    ``广东省深圳市南山区****``. A plain string keeps its leading province/city/district names
    (found with a regex) up to the first district, or up to the city if there is none.
    """
    if isinstance(value, dict):
        return _mask_address_dict(value)
    text = _text(value)
    if not text:
        return _ADDRESS_HIDDEN
    return _mask_address_text(text)


def mask_address_list(value: Any) -> list[str]:
    """An address book: each address masked with :func:`mask_address`."""
    if isinstance(value, dict | str):
        return [mask_address(value)]
    if not isinstance(value, list | tuple):
        return []
    return [mask_address(item) for item in value]


# Waybills (GB/T 41833-2022) may not print the unit or room number. A waybill keeps what sorting
# and the last mile need -- province, city, district and the street or road -- and drops the
# detail from the first house, building, unit, floor or room number on (the courier's app gets
# the full address through the gate: sharing/waybill.py).
_WAYBILL_STREET_MAX = 40
_CN_NUMERALS = "零〇一二三四五六七八九十百千两"
_NUMBERED_PARTS = "号栋幢座楼层室户房"
_STREET_CUT = re.compile(
    r"[甲乙丙丁]?[0-9#]"  # any number, 甲12号 too (full-width digits and ＃ are NFKC'd)
    rf"|[{_CN_NUMERALS}]+(?:单元|[{_NUMBERED_PARTS}])"  # 三号楼, 五单元, 十二层
    rf"|[A-Za-z](?:单元|[{_NUMBERED_PARTS}])"  # A座, B栋
    r"|栋|幢|单元|室"  # words that only ever name a building, a unit or a room
    r"|(?<![A-Za-z])(?i:room|rm|apt|apartment|unit|flat|suite|ste|floor|fl|building|bldg"
    r"|block|blk|tower|no)(?![A-Za-z])"  # Room 1203, Apt 5B, No. 8 (No. is NFKC's №)
    # ... and glued to the word before it, as typed without a space: "Nanjing RoadBlock A"
    r"|(?<=[a-z])(?:Room|Rm|Apt|Apartment|Unit|Flat|Suite|Floor|Building|Bldg|Block|Blk"
    r"|Tower)(?![a-z])"
)
_STREET_TRAILING = " ,，、;；:：-—–_/()（）.。"


def _waybill_street(detail: Any, regions: list[str]) -> tuple[str, bool]:
    """The street part of ``detail`` and whether anything was dropped from it."""
    text = _text(detail)
    if not text:
        return "", text is None and detail is not None
    text = " ".join(text.split())
    for region in regions:  # "南山区科技园路…" repeats the district already shown
        text = text.removeprefix(region)
    match = _STREET_CUT.search(text)
    street = (text if match is None else text[: match.start()]).rstrip(_STREET_TRAILING)
    dropped = match is not None or len(street) > _WAYBILL_STREET_MAX
    return street[:_WAYBILL_STREET_MAX].rstrip(_STREET_TRAILING), dropped


def mask_address_waybill(value: Any) -> str:
    """Province, city, district and street, never a house, building, unit or room number.

    On a structured address (the validator's ``province/city/district/detail``) the regions are
    kept as :func:`mask_address` keeps them, and ``detail`` is cut at the first of: a digit or
    ``#``; a Chinese numeral followed by 号/栋/幢/座/楼/层/室/户/房/单元 (三号楼, 五单元); a
    letter followed by one of them (A座); the words 栋, 幢, 单元, 室; or Room, Rm, Apt, Unit,
    Flat, Suite, Floor, Building, Block, Tower, No. in any case. What is left is at most 40
    characters, and ``****`` marks that something was dropped:
    ``科技园路1号A栋1201室`` -> ``广东省深圳市南山区科技园路****``. Free text is masked like
    :func:`mask_address` (to the district at most), as its parts cannot be told apart reliably.
    """
    if not isinstance(value, dict):
        return mask_address(value)
    regions = _mask_address_dict(value).removesuffix(_ADDRESS_HIDDEN)
    shown = [p for p in (_region_part(value.get(k)) for k in ("province", "city", "district")) if p]
    street, dropped = _waybill_street(value.get("detail"), shown)
    gap = " " if regions and street[:1].isascii() and street[:1].isalpha() else ""
    text = regions + gap + street
    if not text:
        return _ADDRESS_HIDDEN
    return text + (_ADDRESS_HIDDEN if dropped else "")


def mask_address_list_waybill(value: Any) -> list[str]:
    """An address book on a waybill: each address masked with :func:`mask_address_waybill`."""
    if isinstance(value, dict | str):
        return [mask_address_waybill(value)]
    if not isinstance(value, list | tuple):
        return []
    return [mask_address_waybill(item) for item in value]


# --------------------------------------------------------------------------------------------
# Dates, network and device identifiers, location
# --------------------------------------------------------------------------------------------

_DATE_HIDDEN = "****-**-**"
_DATE = re.compile(r"([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?")


def mask_date(value: Any) -> str:
    """A date keeps only its year: ``1990-**-**`` (enough for age bands, not for identification).

    A full birth date narrows a person down a lot; combined with a name it is a classic
    re-identification key.
    """
    if isinstance(value, datetime.date):  # includes datetime.datetime
        return f"{value.year:04d}{_DATE_HIDDEN[4:]}"
    text = _text(value)
    if not text:
        return _DATE_HIDDEN
    match = _DATE.fullmatch(text)
    if match is None:
        return _DATE_HIDDEN
    try:
        parsed = datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return _DATE_HIDDEN
    return f"{parsed.year:04d}{_DATE_HIDDEN[4:]}"


def mask_ip(value: Any) -> str:
    """IP address: keep the network part: ``192.168.*.*``, ``2001:db8:*:*:*:*:*:*``.

    The first two octets/hextets identify a network or provider, not a household.
    """
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = value
    else:
        text = _text(value)
        if not text:
            return "*"
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return "*"
    if isinstance(addr, ipaddress.IPv4Address):
        first, second = str(addr).split(".")[:2]
        return f"{first}.{second}.*.*"
    # From the integer, not the text: ``exploded`` raises on scoped addresses (fe80::1%eth0).
    as_int = int(addr)
    head = [format((as_int >> shift) & 0xFFFF, "x") for shift in (112, 96)]
    return ":".join([*head, *["*"] * 6])


_DEVICE_HIDDEN = "****"


def mask_device_id(value: Any) -> str:
    """Device identifier: only the last 4 characters, enough to tell a user's devices apart."""
    text = _text(value)
    if not text or len(text) < 8:
        return _DEVICE_HIDDEN
    return _DEVICE_HIDDEN + text[-4:]


def _coordinate(value: Any, limit: float) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = _text(value)
        if not text:
            return None
        value = text
    elif not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or not -limit <= number <= limit:
        return None
    return number


def mask_location(value: Any) -> dict[str, float] | None:
    """Precise location rounded to 0.1 degree (about 11 km).

    Whereabouts are sensitive personal information (PIPL Art. 28); a city-scale point is enough
    for display and leaves the exact place hidden. Anything else gives ``None``.
    """
    if not isinstance(value, dict):
        return None
    lat = _coordinate(value.get("lat"), 90.0)
    lon = _coordinate(value.get("lon"), 180.0)
    if lat is None or lon is None:
        return None
    return {"lat": round(lat, 1), "lon": round(lon, 1)}


# --------------------------------------------------------------------------------------------
# Whole-value rules
# --------------------------------------------------------------------------------------------


def mask_records(value: Any) -> dict[str, int]:
    """Purchase/browsing/search history: only how many records there are, never their content."""
    return {"records": len(value) if isinstance(value, list) else 0}


def mask_hidden(value: Any) -> str:
    """Hide the value completely (e.g. gender for a role that must not see it)."""
    return _HIDDEN


def mask_generic(value: Any) -> str:
    """Fallback for free text: first and last character, one ``*`` per hidden character.

    Short strings (under 4 characters) and non-strings are hidden completely.
    """
    text = _text(value)
    if text is None:
        return _HIDDEN
    if len(text) >= 4:
        return text[0] + "*" * (len(text) - 2) + text[-1]
    return "*" * len(text)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

MASKERS: dict[str, MaskFn] = {
    "name": mask_name,
    "mobile": mask_mobile,
    "mobile_waybill": mask_mobile_waybill,
    "landline": mask_landline,
    "id_number": mask_id_number,
    "passport": mask_passport,
    "bank_card": mask_bank_card,
    "email": mask_email,
    "account": mask_account,
    "address": mask_address,
    "address_list": mask_address_list,
    "address_waybill": mask_address_waybill,
    "address_list_waybill": mask_address_list_waybill,
    "date": mask_date,
    "ip": mask_ip,
    "device_id": mask_device_id,
    "location": mask_location,
    "records": mask_records,
    "hidden": mask_hidden,
    "generic": mask_generic,
}


def mask(rule: str, value: Any) -> Any:
    """Apply the masking rule registered as ``rule``; unknown rules raise ``KeyError`` naming it."""
    try:
        masker = MASKERS[rule]
    except KeyError:
        raise KeyError(f"unknown masking rule: {rule!r}") from None
    return masker(value)
