"""Each recognizer, table-driven: valid values found with exact spans, invalid ones not, and the
tricky cases of Chinese e-commerce text (full-width digits, numbers glued to Chinese, 19-digit
cards, IDs ending in x, compound surnames) plus hard negatives (issue 7)."""

from __future__ import annotations

import pytest

from privguard.detect import scan
from privguard.detect.registry import build_detector

Case = tuple[str, list[tuple[str, str]]]  # text, [(entity_type, exact value)]


def found(text: str, entity: str | None = None) -> list[tuple[str, str]]:
    return [
        (f.entity_type, text[f.start : f.end])
        for f in scan(text)
        if entity is None or f.entity_type == entity
    ]


def check(text: str, expected: list[tuple[str, str]], entity: str) -> None:
    assert found(text, entity) == expected, text


PHONES: list[Case] = [
    ("电话13812345678", [("PHONE_NUMBER", "13812345678")]),
    ("收货电话15912345678谢谢", [("PHONE_NUMBER", "15912345678")]),  # glued on both sides
    ("手机 138 1234 5678 白天打", [("PHONE_NUMBER", "138 1234 5678")]),
    ("手机138-1234-5678", [("PHONE_NUMBER", "138-1234-5678")]),
    ("+86 138 0013 8000", [("PHONE_NUMBER", "+86 138 0013 8000")]),
    ("号码0086-13912345678", [("PHONE_NUMBER", "0086-13912345678")]),
    # full-width digits
    ("我的手机：１３９１２３４５６７８。", [("PHONE_NUMBER", "１３９１２３４５６７８")]),
    ("座机010-88886666转8001", [("PHONE_NUMBER", "010-88886666")]),
    ("电话（０２１）６２３４５６７８", [("PHONE_NUMBER", "（０２１）６２３４５６７８")]),
    ("call +1 415 555 2671 now", [("PHONE_NUMBER", "+1 415 555 2671")]),
    ("13912345678 13812345678 都行", [("PHONE_NUMBER", "13912345678"),
                                      ("PHONE_NUMBER", "13812345678")]),
    # negatives
    ("客服热线400-820-8820", []),  # business hotline (shared cost)
    ("售后4006101688或800-820-3800", []),
    ("拨打95588或10086", []),
    ("订单号SO13812345678已发货", []),  # inside an order code
    ("运单号 1381234567890123 已揽收", []),  # part of a longer number
    ("手机12345678901", []),  # no such mobile prefix
    ("2024-05-13 13:45:00 下单", []),
    ("验证码385921", []),
]


@pytest.mark.parametrize(("text", "expected"), PHONES)
def test_phone_numbers(text: str, expected: list[tuple[str, str]]) -> None:
    check(text, expected, "PHONE_NUMBER")


IDS: list[Case] = [
    ("身份证110105194912310021", []),  # wrong check digit
    ("身份证11010519491231002X", [("CN_RESIDENT_ID", "11010519491231002X")]),
    ("证件号码11010519900307101x，请核对", [("CN_RESIDENT_ID", "11010519900307101x")]),  # x
    ("ID 110101196301179257 ok", [("CN_RESIDENT_ID", "110101196301179257")]),
    ("身份证号１１０１０５１９４９１２３１００２Ｘ",
     [("CN_RESIDENT_ID", "１１０１０５１９４９１２３１００２Ｘ")]),
    ("110105199002301234", []),  # 30 February
    ("999999194912310021", []),  # no such region
    ("订单号：202405131234567890123，请核对", []),
]


@pytest.mark.parametrize(("text", "expected"), IDS)
def test_resident_ids(text: str, expected: list[tuple[str, str]]) -> None:
    check(text, expected, "CN_RESIDENT_ID")


def test_an_id_number_is_not_also_a_phone_number_or_a_card() -> None:
    # 11010519900307101X holds 13 digits that a naive matcher could take for a card or phone
    assert found("身份证号11010519900307101X请核对") == [("CN_RESIDENT_ID", "11010519900307101X")]


CARDS: list[Case] = [
    ("卡号6222021234567890128尾号0128", [("BANK_CARD", "6222021234567890128")]),  # 19 digits
    ("退款到6217 0012 3456 7890 122这张卡", [("BANK_CARD", "6217 0012 3456 7890 122")]),
    ("Visa 4111 1111 1111 1111", [("BANK_CARD", "4111 1111 1111 1111")]),
    ("银行卡６２２２０２１２３４５６７８９０１２８",
     [("BANK_CARD", "６２２２０２１２３４５６７８９０１２８")]),
    ("卡号6222021234567890129", []),  # fails Luhn
    ("订单号6222021234567890128已发货", []),  # Luhn-valid, but an order number by context
    ("交易号 4111111111111111", []),
]


@pytest.mark.parametrize(("text", "expected"), CARDS)
def test_bank_cards(text: str, expected: list[tuple[str, str]]) -> None:
    check(text, expected, "BANK_CARD")


OTHERS: list[tuple[str, Case]] = [
    ("EMAIL_ADDRESS", ("邮箱mei.li@example.cn收", [("EMAIL_ADDRESS", "mei.li@example.cn")])),
    ("EMAIL_ADDRESS", ("email: a_b+c@qq.com.", [("EMAIL_ADDRESS", "a_b+c@qq.com")])),
    ("EMAIL_ADDRESS", ("邮箱ｍｅｉ＠ｑｑ．ｃｏｍ", [("EMAIL_ADDRESS", "ｍｅｉ＠ｑｑ．ｃｏｍ")])),
    ("EMAIL_ADDRESS", ("not@an-address", [])),
    ("IP_ADDRESS", ("登录IP 192.168.1.10 异常", [("IP_ADDRESS", "192.168.1.10")])),
    ("IP_ADDRESS",
     ("来源2001:db8::8a2e:370:7334被拦截", [("IP_ADDRESS", "2001:db8::8a2e:370:7334")])),
    ("IP_ADDRESS", ("IP 999.1.1.1", [])),
    ("IP_ADDRESS", ("版本 10.2.3.4 更新说明", [])),
    ("IP_ADDRESS", ("时间 12:30:45", [])),
    ("CN_LICENSE_PLATE", ("车牌粤B12345停在门口", [("CN_LICENSE_PLATE", "粤B12345")])),
    ("CN_LICENSE_PLATE", ("新能源车粤BD12345", [("CN_LICENSE_PLATE", "粤BD12345")])),  # 8 chars
    ("CN_LICENSE_PLATE", ("货车沪A12345F", [("CN_LICENSE_PLATE", "沪A12345F")])),
    ("CN_LICENSE_PLATE", ("车牌号京A·8B123", [("CN_LICENSE_PLATE", "京A·8B123")])),
    ("CN_LICENSE_PLATE", ("京ABCDEF", [])),
    ("PASSPORT", ("护照号码：EA1234567", [("PASSPORT", "EA1234567")])),
    ("PASSPORT", ("passport E12345678, thanks", [("PASSPORT", "E12345678")])),
    ("PASSPORT", ("型号E12345678", [])),  # a product code without context
    ("CN_USCC", ("统一社会信用代码：91110000600037341L", [("CN_USCC", "91110000600037341L")])),
    ("CN_USCC", ("信用代码91110000600037341M", [])),  # wrong check character
    ("WECHAT_ID", ("vx：lily_2024 备注买家", [("WECHAT_ID", "lily_2024")])),
    ("WECHAT_ID", ("加我微信wxid_abc123", [("WECHAT_ID", "wxid_abc123")])),
    ("WECHAT_ID", ("微信支付成功", [])),
    ("QQ_NUMBER", ("扣扣88888888", [("QQ_NUMBER", "88888888")])),
    ("QQ_NUMBER", ("QQ号：123456789", [("QQ_NUMBER", "123456789")])),
    ("QQ_NUMBER", ("数量88888888件", [])),  # a number without context
]


@pytest.mark.parametrize(("entity", "case"), OTHERS)
def test_other_identifiers(entity: str, case: Case) -> None:
    check(case[0], case[1], entity)


PERSONS: list[Case] = [
    ("收货人：张伟，电话13812345678", [("PERSON", "张伟")]),
    ("收货人欧阳娜娜", [("PERSON", "欧阳娜娜")]),  # compound surname
    ("联系人：司马相如", [("PERSON", "司马相如")]),
    ("签收人夏侯涛强，如有疑问", [("PERSON", "夏侯涛强")]),
    ("上官婉儿女士您好", [("PERSON", "上官婉儿")]),
    ("收货人王芳明天到家", [("PERSON", "王芳")]),  # 明天 is a word, not a given name
    ("开户人钟婷琳", [("PERSON", "钟婷琳")]),
    ("我叫李娜，在家等快递", [("PERSON", "李娜")]),
    ("备注：要大一码，孟兰俊，13801460091", [("PERSON", "孟兰俊")]),
    ("My name is John Smith, thanks", [("PERSON", "John Smith")]),
    ("Dear Sarah Anderson, your order", [("PERSON", "Sarah Anderson")]),
    ("护照上的名字是Sarah Young", [("PERSON", "Sarah Young")]),
    # negatives
    ("王女士您好，您的快递到了", []),  # a surname alone
    ("收货人先生您好", []),
    ("谢谢，13801460091", []),  # 谢谢 is a word, though 谢 is a surname
    ("My name is Phone", []),
]


@pytest.mark.parametrize(("text", "expected"), PERSONS)
def test_person_names(text: str, expected: list[tuple[str, str]]) -> None:
    check(text, expected, "PERSON")


ADDRESSES: list[Case] = [
    ("地址：北京市朝阳区建国路88号院3号楼2单元501",
     [("ADDRESS", "北京市朝阳区建国路88号院3号楼2单元501")]),
    ("寄到上海市浦东新区张江路665号，陈静收", [("ADDRESS", "上海市浦东新区张江路665号")]),
    ("我家住在浙江省杭州市西湖区文三路90号东部软件园3号楼502室",
     [("ADDRESS", "浙江省杭州市西湖区文三路90号东部软件园3号楼502室")]),
    # 中山 is a city too
    ("陕西省西安市雁塔区中山路578号", [("ADDRESS", "陕西省西安市雁塔区中山路578号")]),
    ("天津市和平区建设大道738号", [("ADDRESS", "天津市和平区建设大道738号")]),
    ("我住在阳光花园12-3-1201，放门口", [("ADDRESS", "阳光花园12-3-1201")]),
    ("ship to 123 Main Street, Springfield", [("ADDRESS", "123 Main Street, Springfield")]),
    # negatives: places, not a door
    ("浙江省杭州市今天下雨", []),
    ("我在万达广场3楼等你", []),
    ("北京发货，一路顺风", []),
]


@pytest.mark.parametrize(("text", "expected"), ADDRESSES)
def test_addresses(text: str, expected: list[tuple[str, str]]) -> None:
    check(text, expected, "ADDRESS")


def test_spans_index_the_original_text_when_normalisation_changes_its_length() -> None:
    # "…" folds to "..." and "㎏" to "kg" under NFKC: the phone number after them must still
    # be reported at its place in the text as given.
    text = "好的…2㎏装，电话１３８１２３４５６７８"
    [f] = scan(text)
    assert text[f.start : f.end] == "１３８１２３４５６７８"


def test_lang_selects_recognizers() -> None:
    text = "收货人张伟 My name is John Smith"
    assert [t for t, _ in found(text)] == ["PERSON", "PERSON"]
    en = [(f.entity_type, text[f.start : f.end]) for f in scan(text, lang="en")]
    assert en == [("PERSON", "John Smith")]
    with pytest.raises(ValueError, match="lang"):
        scan(text, lang="fr")


def test_entities_filter_and_threshold() -> None:
    text = "收货人张伟，电话13812345678"
    assert [f.entity_type for f in scan(text, entities=["PHONE_NUMBER"])] == ["PHONE_NUMBER"]
    strict = build_detector(threshold=0.9)
    # the name scores 0.85; the phone 0.85 + 0.15 for the context word 电话
    assert [f.entity_type for f in strict.scan(text)] == ["PHONE_NUMBER"]
