"""Realistic, reproducible zh_CN personal information for the demo marketplace.

Faker's zh_CN provider supplies names and free text; ID numbers, phones and cards are built so
they pass the same validators production data must pass (GB 11643 check digit, a real county
code, Luhn), because a demo full of rejected rows would show nothing.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from faker import Faker
from stdnum import luhn
from stdnum.cn import ric

# (county code, province, city, district): real GB/T 2260 codes so ID numbers validate.
REGIONS: tuple[tuple[str, str, str, str], ...] = (
    ("110105", "北京市", "北京市", "朝阳区"),
    ("110108", "北京市", "北京市", "海淀区"),
    ("310104", "上海市", "上海市", "徐汇区"),
    ("310115", "上海市", "上海市", "浦东新区"),
    ("120101", "天津市", "天津市", "和平区"),
    ("500103", "重庆市", "重庆市", "渝中区"),
    ("440305", "广东省", "深圳市", "南山区"),
    ("440106", "广东省", "广州市", "天河区"),
    ("330106", "浙江省", "杭州市", "西湖区"),
    ("320102", "江苏省", "南京市", "玄武区"),
    ("510107", "四川省", "成都市", "武侯区"),
    ("420106", "湖北省", "武汉市", "武昌区"),
    ("610113", "陕西省", "西安市", "雁塔区"),
    ("370202", "山东省", "青岛市", "市南区"),
    ("350203", "福建省", "厦门市", "思明区"),
    ("430104", "湖南省", "长沙市", "岳麓区"),
    ("410105", "河南省", "郑州市", "金水区"),
)
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
)
EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "outlook.com")
ROADS = ("科技园路", "人民路", "解放路", "中山路", "建设路", "文化路", "和平路", "长江路")
PRODUCTS = {
    "鲜果园旗舰店": ("赣南脐橙 5kg", "海南金煌芒 3kg", "阳光玫瑰葡萄 2kg", "智利车厘子 1kg"),
    "数码优选": ("蓝牙耳机", "65W 氮化镓充电器", "机械键盘", "移动硬盘 2TB"),
    "悦读书店": ("《红楼梦》", "《三体》全集", "《活着》", "《人类简史》"),
    "家居生活馆": ("乳胶枕", "四件套", "收纳箱", "香薰蜡烛"),
    "母婴之家": ("婴儿湿巾", "奶瓶", "纸尿裤 L 码", "儿童绘本"),
}
SEARCHES = ("手机壳", "运动鞋", "蓝牙耳机", "面膜", "零食大礼包", "儿童玩具", "空气炸锅")


@dataclass(frozen=True)
class PlannedOrder:
    consumer: int
    merchant: str
    item: str
    total_cents: int
    placed_at: datetime


# County codes valid for any birth year since 1900 in stdnum's GB/T 2260 history.
TIMELESS_COUNTIES = ("110105", "110108", "310104", "120101")


def resident_id(rng: random.Random, county: str, birth: date, male: bool) -> str:
    """An ID number for someone born in ``county`` (the birthplace, which need not be where
    they live now); a county created after the birth year falls back to a timeless one."""
    parity = (1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8)
    seq = rng.randint(0, 99) * 10 + rng.choice(parity)
    for code in (county, rng.choice(TIMELESS_COUNTIES)):
        body = f"{code}{birth:%Y%m%d}{seq:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if ric.is_valid(number):
            return number
    raise AssertionError("timeless county codes must validate")


def bank_card(rng: random.Random) -> str:
    length = rng.choice((16, 19))
    body = "62" + "".join(str(rng.randint(0, 9)) for _ in range(length - 3))
    return body + luhn.calc_check_digit(body)


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + "".join(str(rng.randint(0, 9)) for _ in range(8))


def consumer_pi(fake: Faker, rng: random.Random, today: date, index: int) -> dict[str, Any]:
    """One consumer's PI in the form the API accepts (raw, as a customer would type it)."""
    male = rng.random() < 0.5
    name = fake.name_male() if male else fake.name_female()
    birth = today - timedelta(days=rng.randint(18 * 365, 70 * 365))
    county, province, city, district = rng.choice(REGIONS)
    phone = mobile(rng)
    pi: dict[str, Any] = {
        "name": name,
        "mobile_phone": phone
        if rng.random() < 0.7
        else f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}",
        "email": f"{fake.user_name()}{index}@{rng.choice(EMAIL_DOMAINS)}",
        "gender": "male" if male else "female",
        "date_of_birth": birth.isoformat(),
        "device_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "ip_address": fake.ipv4_public(),
        "shipping_addresses": [
            {
                "province": province,
                "city": city,
                "district": district,
                "detail": f"{rng.choice(ROADS)}{rng.randint(1, 999)}号"
                f"{rng.randint(1, 30)}栋{rng.randint(1, 3)}单元{rng.randint(101, 2808)}室",
                "postal_code": f"{rng.randint(100000, 850000)}",
            }
        ],
    }
    if rng.random() < 0.6:
        pi["resident_id"] = resident_id(rng, county, birth, male)
    if rng.random() < 0.5:
        pi["bank_card"] = bank_card(rng)
    if rng.random() < 0.7:
        pi["payment_account"] = phone if rng.random() < 0.6 else pi["email"]
    if rng.random() < 0.15:
        pi["landline"] = f"010-{rng.randint(60000000, 89999999)}"
    if rng.random() < 0.05:
        pi["passport_number"] = f"E{rng.randint(10000000, 99999999)}"
    if rng.random() < 0.3:
        pi["precise_location"] = {
            "lat": round(rng.uniform(22.5, 40.0), 6),
            "lon": round(rng.uniform(104.0, 121.5), 6),
        }
    if rng.random() < 0.6:
        pi["search_history"] = [
            {
                "query": rng.choice(SEARCHES),
                "at": (
                    datetime(today.year, 1, 1) + timedelta(days=rng.randint(0, 300))
                ).isoformat(),
            }
            for _ in range(rng.randint(1, 5))
        ]
    return pi


def plan_orders(
    rng: random.Random, consumers: int, orders: int, merchants: list[str], now: datetime
) -> list[PlannedOrder]:
    planned = []
    for _ in range(orders):
        merchant = rng.choice(merchants)
        items = PRODUCTS.get(merchant, ("商品",))
        planned.append(
            PlannedOrder(
                consumer=rng.randrange(consumers),
                merchant=merchant,
                item=rng.choice(items),
                total_cents=rng.randint(990, 99900),
                placed_at=now - timedelta(minutes=rng.randint(60, 730 * 24 * 60)),
            )
        )
    return planned
