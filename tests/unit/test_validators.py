"""Unit tests for privguard.catalog.validators: canonical outputs, rule ids, and no value leaks."""

from __future__ import annotations

import datetime
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from stdnum import luhn
from stdnum.cn import ric

from privguard.catalog.validators import (
    VALIDATORS,
    RuleViolation,
    ValidationContext,
    validate,
)

TODAY = datetime.date(2024, 6, 15)
CTX = ValidationContext(today=TODAY)

# Full-width forms of ASCII characters (what a Chinese IME produces in full-width mode).
_FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"})


def full_width(text: str) -> str:
    return text.translate(_FULL_WIDTH)


def ric_with_check(body17: str) -> str:
    """Append the GB 11643-1999 check digit (stdnum's calc_check_digit wants a placeholder)."""
    assert len(body17) == 17
    return body17 + ric.calc_check_digit(body17 + "0")


def luhn_with_check(body: str) -> str:
    return body + luhn.calc_check_digit(body)


RIC_VALID = ric_with_check("11010519491231002")
RIC_BAD_DATE = ric_with_check("11010519990230002")  # 30 February
RIC_BAD_REGION = ric_with_check("99999919491231002")
RIC_BORN_TODAY = ric_with_check("110105" + TODAY.strftime("%Y%m%d") + "001")
RIC_BORN_TOMORROW = ric_with_check(
    "110105" + (TODAY + datetime.timedelta(days=1)).strftime("%Y%m%d") + "001"
)
RIC_BORN_1899 = ric_with_check("11010518991231002")
UNIONPAY_19 = luhn_with_check("622202123456789012")
VISA_13 = luhn_with_check("422222222222")

ADDR = {
    "province": "北京市",
    "city": "北京市",
    "district": "朝阳区",
    "detail": "建国路88号 SOHO现代城 1号楼 1001室",
    "postal_code": "100022",
}
ADDR_OUT = dict(ADDR)


def addr(**changes: Any) -> dict[str, Any]:
    """A copy of ADDR with changes; a value of ... removes the key."""
    out = dict(ADDR)
    for key, val in changes.items():
        if val is ...:
            out.pop(key, None)
        else:
            out[key] = val
    return out


def test_constructed_ric_matches_expected() -> None:
    assert RIC_VALID == "11010519491231002X"
    assert UNIONPAY_19 == "6222021234567890128"
    assert len(VISA_13) == 13


# ----------------------------------------------------------------------------------------------
# Good inputs -> exact canonical outputs
# ----------------------------------------------------------------------------------------------

GOOD: list[tuple[str, Any, Any]] = [
    # person_name
    ("person_name", "张三", "张三"),
    ("person_name", "  Zhang   San ", "Zhang San"),
    ("person_name", "阿沛·阿旺晋美", "阿沛·阿旺晋美"),
    ("person_name", "王一博", "王一博"),  # 一 is a letter, not a digit
    ("person_name", full_width("Li Lei"), "Li Lei"),
    ("person_name", "Zhang\u3000San", "Zhang San"),  # ideographic space
    ("person_name", "O'Brien-Smith", "O'Brien-Smith"),
    ("person_name", "A" * 64, "A" * 64),
    ("person_name", "مه‌ران", "مه‌ران"),  # Persian, ZWNJ
    # mobile_phone
    ("mobile_phone", "13812345678", "+8613812345678"),
    ("mobile_phone", "138 1234 5678", "+8613812345678"),
    ("mobile_phone", "138-1234-5678", "+8613812345678"),
    ("mobile_phone", "+86 138 1234 5678", "+8613812345678"),
    ("mobile_phone", "+8613812345678", "+8613812345678"),
    ("mobile_phone", "0086 13812345678", "+8613812345678"),
    ("mobile_phone", "(+86) 138-1234-5678", "+8613812345678"),
    ("mobile_phone", "+86 (138) 1234 5678", "+8613812345678"),
    ("mobile_phone", full_width("13812345678"), "+8613812345678"),
    ("mobile_phone", "+44 7911 123456", "+447911123456"),
    ("mobile_phone", "+852 9123 4567", "+85291234567"),
    ("mobile_phone", "+1 650 253 0000", "+16502530000"),  # US: FIXED_LINE_OR_MOBILE
    # landline
    ("landline", "010-12345678", "+861012345678"),
    ("landline", "(010) 1234 5678", "+861012345678"),
    ("landline", "+86 10 6552 9988", "+861065529988"),
    ("landline", "0755-12345678", "+8675512345678"),
    ("landline", "+1 650 253 0000", "+16502530000"),
    # phone
    ("phone", "13812345678", "+8613812345678"),
    ("phone", "010-12345678", "+861012345678"),
    ("phone", "+44 7911 123456", "+447911123456"),
    # email
    ("email", "zhang.san@example.com", "zhang.san@example.com"),
    ("email", "someone@example.org", "someone@example.org"),
    ("email", "someone@example.net", "someone@example.net"),
    ("email", "Zhang.San@EXAMPLE.ORG", "Zhang.San@example.org"),
    ("email", "  li.lei@qq.com  ", "li.lei@qq.com"),
    ("email", full_width("wang@163.com"), "wang@163.com"),
    ("email", "用户@例子.中国", "用户@例子.中国"),
    # cn_resident_id
    ("cn_resident_id", "11010519491231002X", "11010519491231002X"),
    ("cn_resident_id", "11010519491231002x", "11010519491231002X"),
    ("cn_resident_id", full_width("11010519491231002X"), "11010519491231002X"),
    ("cn_resident_id", full_width("11010519491231002x"), "11010519491231002X"),
    ("cn_resident_id", " 110105 19491231 002X ", "11010519491231002X"),
    ("cn_resident_id", "440305198511110014", "440305198511110014"),
    ("cn_resident_id", RIC_BORN_TODAY, RIC_BORN_TODAY),
    # passport
    ("passport", "E12345678", "E12345678"),
    ("passport", "ea1234567", "EA1234567"),
    ("passport", "EZ7654321", "EZ7654321"),
    ("passport", "G12345678", "G12345678"),
    ("passport", "D1234567", "D1234567"),
    ("passport", "S12345678", "S12345678"),
    ("passport", "P1234567", "P1234567"),
    ("passport", full_width("e12345678"), "E12345678"),
    ("passport", "C01X00T47", "C01X00T47"),  # German-style
    ("passport", "123456", "123456"),
    ("passport", "AB 123 456", "AB123456"),
    # bank_card
    ("bank_card", UNIONPAY_19, UNIONPAY_19),
    ("bank_card", "6222 0212 3456 7890 128", "6222021234567890128"),
    ("bank_card", "4111111111111111", "4111111111111111"),
    ("bank_card", "4111-1111-1111-1111", "4111111111111111"),
    ("bank_card", full_width("4111 1111 1111 1111"), "4111111111111111"),
    ("bank_card", VISA_13, VISA_13),
    # payment_account
    ("payment_account", "Buyer@Example.com", "Buyer@example.com"),
    ("payment_account", "138 1234 5678", "+8613812345678"),
    ("payment_account", "+8613812345678", "+8613812345678"),
    ("payment_account", "wxid_abc123", "wxid_abc123"),
    ("payment_account", "2088102146012345", "2088102146012345"),  # numeric Alipay id
    ("payment_account", "user.name-01", "user.name-01"),
    # date
    ("date", "2024-02-29", "2024-02-29"),
    ("date", " 2024-01-05 ", "2024-01-05"),
    ("date", full_width("2024-01-05"), "2024-01-05"),
    ("date", datetime.date(2030, 1, 1), "2030-01-01"),
    ("date", "1800-01-01", "1800-01-01"),  # no age rules for plain dates
    # date_of_birth
    ("date_of_birth", "1990-05-17", "1990-05-17"),
    ("date_of_birth", "1900-01-01", "1900-01-01"),
    ("date_of_birth", datetime.date(1985, 11, 11), "1985-11-11"),
    ("date_of_birth", TODAY.isoformat(), TODAY.isoformat()),
    # gender
    ("gender", "male", "male"),
    ("gender", "Female", "female"),
    ("gender", "OTHER", "other"),
    ("gender", "undisclosed", "undisclosed"),
    ("gender", "男", "male"),
    ("gender", "女", "female"),
    ("gender", "m", "male"),
    ("gender", "F", "female"),
    ("gender", full_width("M"), "male"),
    # device_id
    ("device_id", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "6D92078A-8246-4BA4-AE5B-76104861E7DC"),
    ("device_id", "00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E"),
    ("device_id", "android_9774d56d682e549c", "android_9774d56d682e549c"),
    ("device_id", "a" * 128, "a" * 128),
    # ip_address
    ("ip_address", "192.168.1.10", "192.168.1.10"),
    ("ip_address", " 8.8.8.8 ", "8.8.8.8"),
    ("ip_address", "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ("ip_address", "::ffff:192.0.2.1", "::ffff:c000:201"),
    # location
    ("location", {"lat": 39.9042, "lon": 116.4074}, {"lat": 39.9042, "lon": 116.4074}),
    ("location", {"lat": 0, "lon": 0}, {"lat": 0.0, "lon": 0.0}),
    ("location", {"lat": -90, "lon": 180}, {"lat": -90.0, "lon": 180.0}),
    ("location", {"lat": 90.0, "lon": -180.0}, {"lat": 90.0, "lon": -180.0}),
    # address
    ("address", ADDR, ADDR_OUT),
    ("address", addr(postal_code=...), addr(postal_code=None)),
    ("address", addr(postal_code=None), addr(postal_code=None)),
    ("address", addr(postal_code="  "), addr(postal_code=None)),
    ("address", addr(postal_code=full_width("100022")), ADDR_OUT),
    (
        "address",
        addr(province=" 广东省 ", city="深圳市", district="南山区", detail=full_width("科技园1号")),
        addr(province="广东省", city="深圳市", district="南山区", detail="科技园1号"),
    ),
    # address_list
    ("address_list", [ADDR], [ADDR_OUT]),
    ("address_list", [ADDR, addr(postal_code=...)], [ADDR_OUT, addr(postal_code=None)]),
    ("address_list", [ADDR] * 20, [ADDR_OUT] * 20),
    # records
    ("records", [], []),
    (
        "records",
        [{"sku": "A-1", "qty": 2, "price": 9.9, "gift": False, "coupon": None}],
        [{"sku": "A-1", "qty": 2, "price": 9.9, "gift": False, "coupon": None}],
    ),
    ("records", [{}, {"q": "连衣裙"}], [{}, {"q": "连衣裙"}]),
    ("records", [{"k" * 64: "v" * 1000}], [{"k" * 64: "v" * 1000}]),
]


def _case_id(case: tuple[str, Any, Any]) -> str:
    return case[0]


@pytest.mark.parametrize(("name", "value", "expected"), GOOD, ids=[_case_id(c) for c in GOOD])
def test_good_values_canonicalise(name: str, value: Any, expected: Any) -> None:
    assert validate(name, value, CTX) == expected


def test_every_validator_has_good_cases() -> None:
    assert {name for name, _, _ in GOOD} == set(VALIDATORS)


# ----------------------------------------------------------------------------------------------
# Bad inputs -> exact rule ids
# ----------------------------------------------------------------------------------------------

BAD: list[tuple[str, Any, str]] = [
    # common string rules
    ("person_name", 12345, "type.string"),
    ("person_name", None, "type.string"),
    ("person_name", b"Zhang San", "type.string"),
    ("person_name", "   ", "required.empty"),
    ("person_name", "\u3000\t", "required.empty"),
    ("person_name", "A" * 65, "length.max"),
    ("person_name", "A" * 10_000, "length.max"),
    ("email", 42, "type.string"),
    ("email", "", "required.empty"),
    ("mobile_phone", ["13812345678"], "type.string"),
    # person_name
    ("person_name", "Zhang San 3rd", "name.characters"),
    ("person_name", full_width("Agent 007"), "name.characters"),
    ("person_name", "<script>alert</script>", "name.characters"),
    ("person_name", "Robert{drop}", "name.characters"),
    ("person_name", "Zhang\nSan", "name.characters"),
    ("person_name", "Zhang\x00San", "name.characters"),
    ("person_name", "abc\u202edcba", "name.characters"),  # right-to-left override
    ("person_name", "Zhang\u2066San\u2069", "name.characters"),  # isolates
    ("person_name", "\u200fZhang", "name.characters"),  # right-to-left mark
    ("person_name", "Zhang\ufeffSan", "name.characters"),  # zero-width no-break space
    # mobile_phone
    ("mobile_phone", "12345678901", "phone.invalid"),
    ("mobile_phone", "1381234567", "phone.invalid"),
    ("mobile_phone", "not a phone", "phone.invalid"),
    ("mobile_phone", "13812345678 ext 12", "phone.invalid"),
    ("mobile_phone", "1-800-FLOWERS", "phone.invalid"),
    ("mobile_phone", "95588", "phone.invalid"),
    ("mobile_phone", "010-12345678", "phone.not_mobile"),
    ("mobile_phone", "+86 10 6552 9988", "phone.not_mobile"),
    ("mobile_phone", "+44 20 7946 0958", "phone.not_mobile"),
    ("mobile_phone", "+86 138 1234 5678 9012 3456 7890 1234", "length.max"),
    # landline
    ("landline", "13812345678", "phone.not_landline"),
    ("landline", "+44 7911 123456", "phone.not_landline"),
    ("landline", "010-1234", "phone.invalid"),
    # phone
    ("phone", "99999", "phone.invalid"),
    ("phone", "+999 12345678", "phone.invalid"),
    # email
    ("email", "zhang.san", "email.invalid"),
    ("email", "zhang.san@", "email.invalid"),
    ("email", "zhang..san@example.com", "email.invalid"),
    ("email", "zhangsan@localhost", "email.invalid"),
    ("email", "zhangsan@shop.test", "email.invalid"),
    ("email", "zhangsan@shop.invalid", "email.invalid"),
    ("email", "Zhang San <zhangsan@example.com>", "email.invalid"),
    ("email", "zhangsan@[127.0.0.1]", "email.invalid"),
    ("email", "x" * 250 + "@example.com", "length.max"),
    # cn_resident_id
    ("cn_resident_id", "110105491231002", "ric.format"),  # legacy 15-digit
    ("cn_resident_id", "11010519491231002", "ric.format"),
    ("cn_resident_id", "11010519491231002XX", "ric.format"),
    ("cn_resident_id", "1101051949123100AX", "ric.format"),
    ("cn_resident_id", "11010519491231002A", "ric.format"),
    ("cn_resident_id", "110105194912310021", "ric.checksum"),
    ("cn_resident_id", RIC_BAD_DATE, "ric.birth_date"),
    ("cn_resident_id", RIC_BAD_REGION, "ric.region"),
    ("cn_resident_id", RIC_BORN_TOMORROW, "ric.birth_date"),
    ("cn_resident_id", RIC_BORN_1899, "ric.birth_date"),
    ("cn_resident_id", 110105194912310020, "type.string"),
    # passport
    ("passport", "E1234", "passport.format"),
    ("passport", "E1234567890", "passport.format"),
    ("passport", "E1234567/", "passport.format"),
    ("passport", "护照12345678", "passport.format"),
    # bank_card
    ("bank_card", "4111 1111 1111 111a", "card.format"),
    ("bank_card", "4111.1111.1111.1111", "card.format"),
    ("bank_card", "٤١١١١١١١١١١١١١١١", "card.format"),  # Arabic-Indic digits
    ("bank_card", "4111111111111112", "card.luhn"),
    ("bank_card", "6222021234567890123", "card.luhn"),
    ("bank_card", "411111111111", "card.length"),
    ("bank_card", "41111111111111111111", "card.length"),
    # payment_account
    ("payment_account", "buyer@@example.com", "account.format"),
    ("payment_account", "buyer@localhost", "account.format"),
    ("payment_account", "+86 123", "account.format"),
    ("payment_account", "abc", "account.format"),
    ("payment_account", "账户名称", "account.format"),
    ("payment_account", "x" * 65, "account.format"),
    # date
    ("date", "2023-02-29", "date.format"),
    ("date", "20240101", "date.format"),
    ("date", "2024-W01-1", "date.format"),
    ("date", "2024/01/05", "date.format"),
    ("date", "05-01-2024", "date.format"),
    ("date", datetime.datetime(2024, 1, 5, 12, 0), "date.format"),
    ("date", 20240105, "type.string"),
    # date_of_birth
    ("date_of_birth", "2024-06-16", "date.future"),
    ("date_of_birth", "2999-01-01", "date.future"),
    ("date_of_birth", "1899-12-31", "date.too_old"),
    ("date_of_birth", "1990-13-01", "date.format"),
    # gender
    ("gender", "robot", "enum.choice"),
    ("gender", "males", "enum.choice"),
    ("gender", "2", "enum.choice"),
    ("gender", True, "type.string"),
    # device_id
    ("device_id", "abc1234", "device_id.format"),
    ("device_id", "device id with spaces", "device_id.format"),
    ("device_id", "device/id/1234", "device_id.format"),
    ("device_id", "a" * 129, "length.max"),
    # ip_address
    ("ip_address", "256.1.1.1", "ip.invalid"),
    ("ip_address", "192.168.001.010", "ip.invalid"),
    ("ip_address", "hostname.example", "ip.invalid"),
    ("ip_address", "2001:db8:::1", "ip.invalid"),
    ("ip_address", 3232235777, "type.string"),
    # location
    ("location", [39.9, 116.4], "location.type"),
    ("location", {"lat": 39.9}, "location.type"),
    ("location", {"lat": 39.9, "lon": 116.4, "acc": 5}, "location.type"),
    ("location", {"lat": "39.9", "lon": 116.4}, "location.type"),
    ("location", {"lat": True, "lon": 116.4}, "location.type"),
    ("location", {"lat": 90.5, "lon": 116.4}, "location.range"),
    ("location", {"lat": -91, "lon": 0}, "location.range"),
    ("location", {"lat": 39.9, "lon": 180.01}, "location.range"),
    ("location", {"lat": float("nan"), "lon": 0}, "location.range"),
    ("location", {"lat": 0, "lon": float("inf")}, "location.range"),
    # address
    ("address", "北京市朝阳区建国路88号", "address.type"),
    ("address", addr(province=...), "address.missing_part"),
    ("address", addr(city=""), "address.missing_part"),
    ("address", addr(district="   "), "address.missing_part"),
    ("address", addr(detail=None), "address.missing_part"),
    ("address", addr(phone="13812345678"), "address.unknown_key"),
    ("address", {**ADDR, "mobile 13812345678": "手机"}, "address.unknown_key"),
    ("address", addr(postal_code="10002"), "address.postal_code"),
    ("address", addr(postal_code="1000222"), "address.postal_code"),
    ("address", addr(postal_code="SW1A 1AA"), "address.postal_code"),
    ("address", addr(postal_code=100022), "type.string"),
    ("address", addr(city=110000), "type.string"),
    ("address", addr(city="市" * 101), "length.max"),
    ("address", addr(detail="路" * 201), "length.max"),
    # address_list
    ("address_list", ADDR, "address_list.type"),
    ("address_list", (ADDR,), "address_list.type"),
    ("address_list", [], "required.empty"),
    ("address_list", [ADDR] * 21, "address_list.too_many"),
    ("address_list", [ADDR, addr(city="")], "address.missing_part"),
    ("address_list", [ADDR, ADDR, "北京市朝阳区建国路88号"], "address.type"),
    # records
    ("records", {"sku": "A-1"}, "records.type"),
    ("records", "search: 连衣裙", "records.type"),
    ("records", [{}] * 10_001, "records.too_many"),
    ("records", ["search: 连衣裙"], "records.item"),
    ("records", [{"q": "连衣裙"}, {1: "连衣裙"}], "records.item"),
    ("records", [{"": "连衣裙"}], "records.item"),
    ("records", [{"k" * 65: "连衣裙"}], "records.item"),
    ("records", [{"q": "连" * 1001}], "records.item"),
    ("records", [{"q": ["连衣裙"]}], "records.item"),
    ("records", [{"q": {"nested": "连衣裙"}}], "records.item"),
    ("records", [{"price": float("nan")}], "records.item"),
]


@pytest.mark.parametrize(("name", "value", "rule"), BAD, ids=[_case_id(c) for c in BAD])
def test_bad_values_raise_rule(name: str, value: Any, rule: str) -> None:
    with pytest.raises(RuleViolation) as info:
        validate(name, value, CTX)
    assert info.value.rule == rule
    assert info.value.message
    assert rule in str(info.value)


# Field names defined by the schema may be named in messages; any other dict key is caller data.
SCHEMA_KEYS = frozenset({"province", "city", "district", "detail", "postal_code", "lat", "lon"})


def _leaf_strings(value: Any) -> Iterator[str]:
    """Every string inside value (non-schema dict keys included), plus str() of scalars."""
    if isinstance(value, dict):
        for key, val in value.items():
            if key not in SCHEMA_KEYS:
                yield from _leaf_strings(key)
            yield from _leaf_strings(val)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaf_strings(item)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def assert_no_leak(value: Any, exc: RuleViolation) -> None:
    """Fail if any (non-trivial) part of ``value`` appears in what the exception renders to."""
    rendered = [str(exc), repr(exc), exc.message, exc.rule, *map(str, exc.args)]
    # The exception must not drag a library exception (whose text may quote the value) along.
    assert exc.__cause__ is None
    assert exc.__suppress_context__ or exc.__context__ is None
    # Very short fragments ("2", "abc") are checked too when they are the whole input.
    candidates = {s.strip() for s in _leaf_strings(value)} - {""}
    for text in candidates:
        if len(text) < 3 and text != str(value):
            continue
        squeezed = text.replace(" ", "")
        for out in rendered:
            assert text not in out, "error output leaks the input"
            if len(squeezed) >= 3:
                assert squeezed not in out.replace(" ", ""), "error output leaks the input"


@pytest.mark.parametrize(("name", "value", "rule"), BAD, ids=[_case_id(c) for c in BAD])
def test_errors_never_contain_the_value(name: str, value: Any, rule: str) -> None:
    with pytest.raises(RuleViolation) as info:
        validate(name, value, CTX)
    assert_no_leak(value, info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("13812345678", "bad value 13812345678"),
        ("138 1234 5678", "bad value 13812345678"),
        ({"detail": "建国路88号"}, "detail: 建国路88号 is too long"),
        ([{"q": "连衣裙"}], "item 0: 连衣裙"),
    ],
)
def test_leak_check_catches_leaks(value: Any, message: str) -> None:
    """The leak check itself must fail on a violation that quotes its input."""
    with pytest.raises(AssertionError):
        assert_no_leak(value, RuleViolation("x.y", message))


# ----------------------------------------------------------------------------------------------
# Context and time dependence
# ----------------------------------------------------------------------------------------------


def test_date_of_birth_depends_on_context_today() -> None:
    tomorrow = (TODAY + datetime.timedelta(days=1)).isoformat()
    assert validate("date_of_birth", TODAY.isoformat(), CTX) == TODAY.isoformat()
    with pytest.raises(RuleViolation) as info:
        validate("date_of_birth", tomorrow, CTX)
    assert info.value.rule == "date.future"
    later = ValidationContext(today=TODAY + datetime.timedelta(days=1))
    assert validate("date_of_birth", tomorrow, later) == tomorrow


def test_date_of_birth_accepts_date_objects_against_context() -> None:
    assert validate("date_of_birth", TODAY, CTX) == TODAY.isoformat()
    with pytest.raises(RuleViolation) as info:
        validate("date_of_birth", TODAY + datetime.timedelta(days=1), CTX)
    assert info.value.rule == "date.future"


def test_resident_id_birth_date_depends_on_context_today() -> None:
    assert validate("cn_resident_id", RIC_BORN_TODAY, CTX) == RIC_BORN_TODAY
    with pytest.raises(RuleViolation) as info:
        validate("cn_resident_id", RIC_BORN_TOMORROW, CTX)
    assert info.value.rule == "ric.birth_date"
    later = ValidationContext(today=TODAY + datetime.timedelta(days=1))
    assert validate("cn_resident_id", RIC_BORN_TOMORROW, later) == RIC_BORN_TOMORROW


def test_default_region_comes_from_context() -> None:
    us = ValidationContext(today=TODAY, default_region="US")
    assert validate("phone", "(650) 253-0000", us) == "+16502530000"
    with pytest.raises(RuleViolation) as info:
        validate("mobile_phone", "13812345678", us)
    assert info.value.rule == "phone.invalid"
    # Numbers with a country code do not depend on the default region.
    assert validate("mobile_phone", "+86 138 1234 5678", us) == "+8613812345678"


# ----------------------------------------------------------------------------------------------
# API details
# ----------------------------------------------------------------------------------------------


def test_unknown_validator_is_keyerror_naming_it() -> None:
    with pytest.raises(KeyError, match="no_such_validator"):
        validate("no_such_validator", "x", CTX)


def test_context_is_frozen_with_cn_default() -> None:
    assert CTX.default_region == "CN"
    with pytest.raises(AttributeError):
        CTX.today = TODAY  # type: ignore[misc]


def test_rule_violation_is_value_error_and_picklable() -> None:
    exc = RuleViolation("phone.invalid", "must be a valid phone number")
    assert isinstance(exc, ValueError)
    assert (exc.rule, exc.message) == ("phone.invalid", "must be a valid phone number")
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.rule, copy.message) == (exc.rule, exc.message)


def test_address_errors_name_the_part() -> None:
    with pytest.raises(RuleViolation) as info:
        validate("address", addr(district=""), CTX)
    assert "district" in info.value.message


def test_address_list_error_names_the_item() -> None:
    with pytest.raises(RuleViolation) as info:
        validate("address_list", [ADDR, ADDR, addr(city=" ")], CTX)
    assert info.value.rule == "address.missing_part"
    assert info.value.message.startswith("item 2: ")
    assert "city" in info.value.message


def test_records_error_names_the_item() -> None:
    with pytest.raises(RuleViolation) as info:
        validate("records", [{"q": "a"}, {"q": object()}], CTX)
    assert info.value.message.startswith("item 1: ")


def test_records_are_shallow_copies() -> None:
    original = [{"sku": "A-1", "qty": 1}]
    out = validate("records", original, CTX)
    assert out == original
    assert out[0] is not original[0]
    out[0]["qty"] = 2
    assert original[0]["qty"] == 1


def test_address_returns_new_dict_with_exact_keys() -> None:
    original = addr(postal_code=...)
    out = validate("address", original, CTX)
    assert set(out) == {"province", "city", "district", "detail", "postal_code"}
    assert out is not original
    assert "postal_code" not in original


def test_gender_message_lists_allowed_values() -> None:
    with pytest.raises(RuleViolation) as info:
        validate("gender", "robot", CTX)
    for allowed in ("male", "female", "other", "undisclosed"):
        assert allowed in info.value.message


def test_ric_checksum_message_names_the_standard() -> None:
    with pytest.raises(RuleViolation) as info:
        validate("cn_resident_id", "110105194912310021", CTX)
    assert "GB 11643-1999" in info.value.message


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_validators_are_deterministic(name: str) -> None:
    for case_name, value, expected in GOOD:
        if case_name == name:
            assert VALIDATORS[name](value, CTX) == expected
            assert VALIDATORS[name](value, CTX) == expected
