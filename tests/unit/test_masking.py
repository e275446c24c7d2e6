"""Masking rules (privguard.catalog.masking): exact outputs, edge cases and "never leaks"."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest

from privguard.catalog.masking import MASKERS, mask

SHENZHEN = {
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "detail": "科技园路1号A栋1201室",
    "postal_code": "518057",
}
BEIJING = {
    "province": "北京市",
    "city": "北京市",
    "district": "朝阳区",
    "detail": "建国路88号SOHO现代城5号楼2单元1808室",
    "postal_code": None,
}


def test_registry_holds_every_rule_the_catalog_needs() -> None:
    assert set(MASKERS) == {
        "name", "mobile", "mobile_waybill", "landline", "id_number", "passport", "bank_card",
        "email", "account", "address", "address_list", "date", "ip", "device_id", "location",
        "records", "hidden", "generic", "address_waybill", "address_list_waybill",
    }  # fmt: skip


def test_unknown_rule_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="nope"):
        mask("nope", "x")


# --------------------------------------------------------------------------------------------
# name
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("张三", "张*"),
        ("王小明", "王**"),
        ("欧阳娜娜", "欧阳**"),
        ("司马相如", "司马**"),
        ("诸葛亮", "诸葛*"),
        ("歐陽娜娜", "歐陽**"),  # traditional spelling
        ("张", "*"),  # one character: still hidden
        ("欧阳", "欧*"),  # bare compound surname: never the whole name
        ("阿卜杜拉·买买提", "阿***·***"),
        ("阿卜杜拉・买买提", "阿***·***"),  # katakana middle dot variant
        ("阿卜杜拉 · 买买提", "阿***·***"),
        ("帕尔哈提·阿不都热合曼·吐尔逊", "帕***·******·***"),
        ("阿·", "*"),
        ("  张　三 ", "张*"),  # ideographic space inside, spaces around
        ("John Smith", "J*** S****"),
        ("John  A Smith", "J*** * S****"),  # one-letter word hidden, whitespace collapsed
        ("Ｊｏｈｎ Ｓｍｉｔｈ", "J*** S****"),  # full-width Latin
        ("Jean-Luc O'Brien", "J***-*** O'*****"),
        ("X", "*"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_name(value: str, expected: str) -> None:
    assert mask("name", value) == expected


def test_name_always_hides_at_least_one_character() -> None:
    for value in ["张", "欧阳", "王五", "Al", "A B", "阿·买"]:
        masked = mask("name", value)
        assert "*" in masked
        assert masked != value


# --------------------------------------------------------------------------------------------
# phones
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "+8613812345678",
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "１３８１２３４５６７８",
        " +86 138 1234 5678 ",
        "0086 138 1234 5678",
    ],
)
def test_mobile_cn(value: str) -> None:
    assert mask("mobile", value) == "138****5678"


def test_mobile_international_keeps_country_code_and_last_four() -> None:
    assert mask("mobile", "+14155552671") == "+1 ******2671"
    assert mask("mobile", "+447911123456") == "+44 ******3456"


def test_mobile_short_foreign_number_fully_hidden() -> None:
    # Iceland: 7-digit numbers; showing 4 of 7 digits would reveal most of the number.
    assert mask("mobile", "+3545512345") == "+354 *******"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12345678x", "****5678"),  # does not parse: digits-only fallback, >= 8 digits
        ("1234#567", "*******"),  # fewer than 8 digits: all hidden
        ("abc", "***"),
        ("", "***"),
        (None, "***"),
        (13812345678, "***"),  # not a string
    ],
)
def test_mobile_fallback(value: Any, expected: str) -> None:
    assert mask("mobile", value) == expected


@pytest.mark.parametrize(
    "value", ["+8613812345678", "13812345678", "138 1234 5678", "１３８-１２３４-５６７８"]
)
def test_mobile_waybill_gb_t_41833(value: str) -> None:
    masked = mask("mobile_waybill", value)
    assert masked == "*******5678"
    assert masked.count("*") >= 6
    assert re.sub(r"\*", "", masked) == "5678"  # only the last 4 digits are visible


@pytest.mark.parametrize(
    "value", ["+14155552671", "+3545512345", "12345", "123456789", "12345678x", "+8675512345678"]
)
def test_mobile_waybill_always_hides_six_and_shows_at_most_last_four(value: str) -> None:
    masked = mask("mobile_waybill", value)
    assert masked.count("*") >= 6 or set(masked) == {"*"}
    visible = masked.replace("*", "")
    assert len(visible) <= 4
    assert re.sub(r"[^0-9]", "", value).endswith(visible)


def test_mobile_waybill_short_numbers_fully_hidden() -> None:
    assert mask("mobile_waybill", "+3545512345") == "*******"
    assert mask("mobile_waybill", "123456789") == "*********"
    assert mask("mobile_waybill", "abc") == "***"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+861012345678", "010-****5678"),
        ("010-12345678", "010-****5678"),
        ("(010) 1234 5678", "010-****5678"),
        ("０１０－１２３４５６７８", "010-****5678"),
        ("+8675588886666", "0755-****6666"),
        ("13812345678", "138****5678"),  # a mobile in the landline field: no area code
        ("+14155552671", "+1 ******2671"),
        ("not a number", "***"),
        ("12345678x", "****5678"),
    ],
)
def test_landline(value: str, expected: str) -> None:
    assert mask("landline", value) == expected


# --------------------------------------------------------------------------------------------
# identity documents and payment
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("11010519491231002X", "1101**********002X"),
        ("11010519491231002x", "1101**********002X"),  # lower-case x upper-cased
        ("110105 19491231 002X", "1101**********002X"),
        ("110105-19491231-002X", "1101**********002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", "1101**********002X"),
        ("110105491231002", "1*************2"),  # legacy 15-digit: first and last only
        ("E12345", "E****5"),
        ("12345", "*****"),
        ("", "***"),
        (None, "***"),
    ],
)
def test_id_number(value: Any, expected: str) -> None:
    assert mask("id_number", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("E12345678", "E*****678"),
        ("e12345678", "E*****678"),
        ("EA1234567", "E*****567"),
        ("Ｅ１２３４５６７８", "E*****678"),
        ("123456", "1**456"),
        ("E1234", "*****"),
        ("", "***"),
    ],
)
def test_passport(value: str, expected: str) -> None:
    assert mask("passport", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6222021234567890123", "**** **** **** 0123"),  # 19-digit UnionPay
        ("6222 0212 3456 7890 123", "**** **** **** 0123"),
        ("4222222222222", "**** **** **** 2222"),  # 13 digits: same shape, length not leaked
        ("4111-1111-1111-1111", "**** **** **** 1111"),
        ("６２２２０２１２３４５６７８９０", "**** **** **** 7890"),
        ("1234567", "****"),
        ("6222 0212 abcd 7890", "****"),
        ("", "****"),
        (6222021234567890123, "****"),
    ],
)
def test_bank_card(value: Any, expected: str) -> None:
    assert mask("bank_card", value) == expected


def test_bank_card_shape_does_not_depend_on_length() -> None:
    shapes = {re.sub(r"[0-9]", "d", mask("bank_card", "4" * n)) for n in range(13, 20)}
    assert shapes == {"**** **** **** dddd"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zhangsan@qq.com", "z***@qq.com"),
        ("z@qq.com", "***@qq.com"),
        (" Zhangsan@QQ.com ", "Z***@qq.com"),
        ("ｚｈａｎｇｓａｎ＠ｑｑ．ｃｏｍ", "z***@qq.com"),
        ("用户@例子.中国", "用***@例子.中国"),
        ("no-at-sign", "***"),
        ("secret@not a domain", "***"),
        ("", "***"),
        (None, "***"),
    ],
)
def test_email(value: Any, expected: str) -> None:
    assert mask("email", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zhangsan@qq.com", "z***@qq.com"),
        ("+8613812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+14155552671", "+1 ******2671"),
        ("wxid_abcdefgh", "wx****gh"),
        ("alipay_user_2024", "al****24"),
        ("short", "****"),
        ("", "****"),
    ],
)
def test_account(value: str, expected: str) -> None:
    assert mask("account", value) == expected


# --------------------------------------------------------------------------------------------
# addresses
# --------------------------------------------------------------------------------------------


def test_address_dict() -> None:
    assert mask("address", SHENZHEN) == "广东省深圳市南山区****"


def test_address_dict_municipality_not_repeated() -> None:
    assert mask("address", BEIJING) == "北京市朝阳区****"
    assert mask("address", {**BEIJING, "province": "北京"}) == "北京朝阳区****"
    assert mask("address", {**BEIJING, "city": "市辖区"}) == "北京市朝阳区****"


def test_address_dict_same_name_province_and_city_both_kept() -> None:
    jilin = {"province": "吉林省", "city": "吉林市", "district": "昌邑区", "detail": "x"}
    assert mask("address", jilin) == "吉林省吉林市昌邑区****"


def test_address_dict_drops_parts_that_look_like_detail() -> None:
    odd = {"province": "广东省", "city": "深圳市", "district": "科技园路1号A栋1201室", "detail": ""}
    assert mask("address", odd) == "广东省深圳市****"
    assert mask("address", {"detail": "科技园路1号"}) == "****"
    assert mask("address", {"province": 1, "city": None, "district": ["x"]}) == "****"
    assert mask("address", {}) == "****"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("广东省深圳市南山区科技园路1号A栋1201室", "广东省深圳市南山区****"),
        ("广东省 深圳市 南山区 科技园路1号", "广东省深圳市南山区****"),
        ("北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("北京市北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("上海市市辖区黄浦区南京东路1号", "上海市黄浦区****"),
        ("广西壮族自治区南宁市青秀区民族大道1号", "广西壮族自治区南宁市青秀区****"),
        ("浙江省杭州市余杭区文一西路969号", "浙江省杭州市余杭区****"),
        ("四川省阿坝藏族羌族自治州汶川县威州镇", "四川省阿坝藏族羌族自治州汶川县****"),
        ("内蒙古自治区锡林郭勒盟正蓝旗上都镇", "内蒙古自治区锡林郭勒盟正蓝旗****"),
        ("济南市市中区经十路1号", "济南市市中区****"),
        ("中国广东省深圳市南山区科技园", "广东省深圳市南山区****"),
        ("广东省深圳市科技园路1号", "广东省深圳市****"),  # no district: up to the city
        ("江苏省苏州市昆山市玉山镇开发区1号", "江苏省苏州市昆山市****"),
        ("南山区科技园路1号", "南山区****"),
        ("科技园路1号A栋1201室", "****"),
        ("广东省科技园路1号", "****"),  # province only: nothing at city level or below
        ("", "****"),
    ],
)
def test_address_string(value: str, expected: str) -> None:
    assert mask("address", value) == expected


def test_address_list() -> None:
    assert mask("address_list", [SHENZHEN, BEIJING, "浙江省杭州市西湖区文三路1号"]) == [
        "广东省深圳市南山区****",
        "北京市朝阳区****",
        "浙江省杭州市西湖区****",
    ]
    assert mask("address_list", []) == []
    assert mask("address_list", None) == []
    assert mask("address_list", SHENZHEN) == ["广东省深圳市南山区****"]


# --------------------------------------------------------------------------------------------
# dates, network, device, location, whole-value rules
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-05-17", "1990-**-**"),
        ("１９９０-０５-１７", "1990-**-**"),
        ("1990/5/17", "1990-**-**"),
        ("1990年5月17日", "1990-**-**"),
        (datetime.date(1990, 5, 17), "1990-**-**"),
        ("1990-02-30", "****-**-**"),
        ("19900517", "****-**-**"),
        ("not a date", "****-**-**"),
        ("", "****-**-**"),
        (None, "****-**-**"),
    ],
)
def test_date(value: Any, expected: str) -> None:
    assert mask("date", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.168.1.20", "192.168.*.*"),
        (" 10.0.0.1 ", "10.0.*.*"),
        ("１９２．１６８．１．２０", "192.168.*.*"),
        ("2001:db8::1", "2001:db8:*:*:*:*:*:*"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:db8:*:*:*:*:*:*"),
        ("fe80::1%eth0", "fe80:0:*:*:*:*:*:*"),
        ("::ffff:192.168.1.20", "0:0:*:*:*:*:*:*"),
        ("999.1.1.1", "*"),
        ("192.168.1", "*"),
        ("", "*"),
        (None, "*"),
    ],
)
def test_ip(value: Any, expected: str) -> None:
    assert mask("ip", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("38400000-8cf0-11bd-b23e-10b96e40000d", "****000d"),
        ("ABCDEF12", "****EF12"),
        ("ABCDEF1", "****"),
        ("", "****"),
        (None, "****"),
    ],
)
def test_device_id(value: Any, expected: str) -> None:
    assert mask("device_id", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"lat": 22.543096, "lon": 114.057865}, {"lat": 22.5, "lon": 114.1}),
        ({"lat": -33.8688, "lon": 151.2093}, {"lat": -33.9, "lon": 151.2}),
        ({"lat": 40, "lon": 116}, {"lat": 40.0, "lon": 116.0}),
        ({"lat": "22.543096", "lon": "114.057865"}, {"lat": 22.5, "lon": 114.1}),
        ({"lat": 91.0, "lon": 0.0}, None),
        ({"lat": 0.0, "lon": 181.0}, None),
        ({"lat": float("nan"), "lon": 0.0}, None),
        ({"lat": True, "lon": 0.0}, None),
        ({"lat": 10**400, "lon": 0.0}, None),
        ({"lat": 22.5}, None),
        ("22.5,114.1", None),
        (None, None),
    ],
)
def test_location(value: Any, expected: dict[str, float] | None) -> None:
    assert mask("location", value) == expected


def test_records_only_count() -> None:
    history = [{"sku": "A1", "title": "iPhone"}, {"sku": "B2", "title": "book"}]
    assert mask("records", history) == {"records": 2}
    assert mask("records", []) == {"records": 0}
    assert mask("records", "not a list") == {"records": 0}
    assert mask("records", None) == {"records": 0}


@pytest.mark.parametrize("value", ["male", "female", "", None, 1, {"a": 1}])
def test_hidden(value: Any) -> None:
    assert mask("hidden", value) == "***"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abcdef", "a****f"),
        ("abcd", "a**d"),
        ("abc", "***"),
        ("a", "*"),
        (" ａｂｃｄｅ ", "a***e"),
        (12345, "***"),
        (None, "***"),
        ({"x": "secret"}, "***"),
    ],
)
def test_generic(value: Any, expected: str) -> None:
    assert mask("generic", value) == expected


# --------------------------------------------------------------------------------------------
# never leaks, never raises
# --------------------------------------------------------------------------------------------

# (rule, value, substrings that must never appear in the masked output)
SECRETS: list[tuple[str, Any, list[str]]] = [
    ("mobile", "+8613812345678", ["1234", "8123", "3812345"]),
    ("mobile", "13812345678", ["1234"]),
    ("mobile", "+14155552671", ["415", "555"]),
    ("mobile_waybill", "+8613812345678", ["138", "1234"]),
    ("landline", "+861012345678", ["1234"]),
    ("id_number", "11010519491231002X", ["1949", "19491231", "491231", "1231"]),
    ("passport", "E12345678", ["12345", "2345"]),
    ("bank_card", "6222021234567890123", ["622202123456", "6222", "7890", "0212"]),
    ("bank_card", "4222222222222", ["42222"]),
    ("email", "zhangsan@qq.com", ["zhangsan", "hang"]),
    ("account", "zhangsan@qq.com", ["zhangsan"]),
    ("account", "+8613812345678", ["1234"]),
    ("account", "wxid_abcdefgh", ["abcdef", "wxid_"]),
    ("name", "王小明", ["小明", "小", "明"]),
    ("name", "欧阳娜娜", ["娜"]),
    ("name", "阿卜杜拉·买买提", ["卜杜拉", "买买提", "买"]),
    ("name", "John Smith", ["John", "Smith", "ohn", "mith"]),
    ("address", SHENZHEN, ["科技园", "1201", "A栋", "518057", "1号"]),
    ("address", BEIJING, ["建国路", "1808", "SOHO"]),
    ("address", "广东省深圳市南山区科技园路1号A栋1201室", ["科技园", "1201", "A栋"]),
    ("address_list", [SHENZHEN, BEIJING], ["科技园", "1201", "建国路", "1808", "518057"]),
    ("date", "1990-05-17", ["05", "17"]),
    ("ip", "192.168.1.20", [".1.20", "20"]),
    ("ip", "2001:db8:85a3::8a2e:370:7334", ["85a3", "8a2e", "7334"]),
    ("device_id", "38400000-8cf0-11bd-b23e-10b96e40000d", ["38400000", "8cf0", "b23e"]),
    ("location", {"lat": 22.543096, "lon": 114.057865}, ["22.54", "114.05", "543096"]),
    ("records", [{"sku": "SECRET-SKU", "q": "pregnancy test"}], ["SECRET", "pregnancy"]),
    ("hidden", "female", ["female", "male"]),
    ("generic", "confidential", ["onfidentia", "conf"]),
]


@pytest.mark.parametrize(("rule", "value", "secrets"), SECRETS)
def test_masked_output_never_contains_hidden_parts(
    rule: str, value: Any, secrets: list[str]
) -> None:
    rendered = json.dumps(mask(rule, value), ensure_ascii=False)
    for secret in secrets:
        assert secret not in rendered, f"{rule} leaked {secret!r}"


# Values no rule should reveal 5+ consecutive characters of. No sample has an '@' (e-mail keeps
# the domain), an administrative-division name (addresses keep those) or a date (the year and
# its dash are kept).
LEAK_SAMPLES = [
    "13812345678",
    "+8613812345678",
    "１３８１２３４５６７８",
    "11010519491231002X",
    "6222021234567890123",
    "E12345678",
    "S3cr3tV4lu3Xy",
    "王小明阿卜杜拉",
    "阿卜杜拉·买买提",
    "John Smith Jr",
    "38400000-8cf0-11bd-b23e-10b96e40000d",
    "pA55w0rd-L1ke-S3cret",
]


def _windows(text: str, size: int = 5) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


@pytest.mark.parametrize("rule", sorted(MASKERS))
@pytest.mark.parametrize("value", LEAK_SAMPLES)
def test_no_rule_reveals_five_consecutive_characters(rule: str, value: str) -> None:
    rendered = json.dumps(mask(rule, value), ensure_ascii=False)
    compact = re.sub(r"[\s\-+]", "", value)
    for window in _windows(value) | _windows(compact):
        assert window not in rendered, f"{rule} revealed {window!r}"


ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1.5,
    float("nan"),
    "",
    "   ",
    "\x00",
    "\ud800",
    "*" * 12,
    "x" * 10_000,
    "@",
    "@@@",
    "+",
    "·",
    "··",
    "٠١٢٣٤٥٦٧٨٩",
    "𝟏𝟑𝟖𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖",
    "fe80::1%eth0",
    b"13812345678",
    [],
    [None, 1, "x"],
    {},
    {"lat": None, "lon": "x"},
    {"province": 1, "city": [], "district": None, "detail": {}},
    (1, 2),
    object(),
]


@pytest.mark.parametrize("rule", sorted(MASKERS))
@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: type(v).__name__)
def test_odd_values_never_raise_and_stay_json(rule: str, value: Any) -> None:
    json.dumps(mask(rule, value))


@pytest.mark.parametrize("rule", sorted(set(MASKERS) - {"records"}))
def test_long_garbage_is_fully_hidden(rule: str) -> None:
    value = "Zq9" * 2000
    rendered = json.dumps(mask(rule, value))
    assert "Zq9" not in rendered
    assert "q9Z" not in rendered


@pytest.mark.parametrize(
    "rule", ["mobile", "mobile_waybill", "landline", "id_number", "passport", "bank_card"]
)
@pytest.mark.parametrize("value", ["", "abc", "12", None, 42, ["13812345678"]])
def test_unparseable_numbers_are_fully_hidden(rule: str, value: Any) -> None:
    masked = mask(rule, value)
    assert isinstance(masked, str)
    assert set(masked) <= {"*", " "}


def test_rules_are_pure() -> None:
    value = dict(SHENZHEN)
    history = [{"sku": "A1"}]
    assert mask("address", value) == mask("address", value)
    assert value == SHENZHEN  # input not mutated
    mask("records", history)
    assert history == [{"sku": "A1"}]


@pytest.mark.parametrize("seed", range(5))
def test_e164_fast_path_masks_exactly_like_the_parser(seed: int) -> None:
    """Stored Chinese mobiles skip phonenumbers when masked; the answer must not change."""
    import random

    import phonenumbers

    from privguard.catalog.masking import (
        _WAYBILL_MIN_HIDDEN,
        _keep_last4,
        _mask_phone_number,
        _parse_phone,
        mask_mobile,
        mask_mobile_waybill,
    )

    rng = random.Random(seed)
    for _ in range(500):
        text = "+861" + "".join(rng.choice("0123456789") for _ in range(10))
        number = _parse_phone(text)
        assert number is not None
        assert mask_mobile(text) == _mask_phone_number(number)
        nsn = phonenumbers.national_significant_number(number)
        assert mask_mobile_waybill(text) == _keep_last4(nsn, _WAYBILL_MIN_HIDDEN)


def test_waybill_address_drops_unit_words_glued_to_the_street() -> None:
    """Found by the waybill property test: "Nanjing RoadBlock A" kept its block."""
    for detail in ("Nanjing RoadBlock A", "Nanjing RoadRoom 1201", "Jianguo RdApt 4B"):
        out = mask("address_waybill", {"province": "上海市", "city": "上海市",
                                       "district": "黄浦区", "detail": detail})
        assert "Block" not in out and "Room" not in out and "Apt" not in out, out
        assert out.endswith("****")
