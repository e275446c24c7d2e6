"""Generate the labelled PI corpus ``corpus.jsonl`` (deterministic: run it again, get the same
file). Usage, from the repository root::

    python tests/data/detect/make_corpus.py            # writes tests/data/detect/corpus.jsonl

Each line is ``{"id", "kind", "text", "spans": [{"start", "end", "entity_type"}]}`` with
``start``/``end`` Python string indices. Values are synthetic but valid: mobile numbers use
allocated CN prefixes and pass ``phonenumbers``; ID numbers carry real county codes, real dates
and the right check character (``stdnum``); cards pass Luhn; USCCs carry their check
character. Templates imitate customer-service chats, order notes, reviews, logistics messages
and English or mixed messages; a share of lines holds only hard negatives (order and tracking
numbers, prices, SKUs, 400 hotlines, dates, versions). Hand-written tricky lines are at the end
(``HANDWRITTEN``), marked up inline as ``{{TYPE:value}}``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import phonenumbers
from stdnum import luhn
from stdnum.cn import ric, uscc

SEED = 20261129
OUT = Path(__file__).with_name("corpus.jsonl")
GENERATED = 560

MOBILE_PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181", "182",
    "183", "185", "186", "187", "188", "189", "191", "198", "199",
]  # fmt: skip
AREA_CODES = ["010", "021", "022", "023", "020", "0755", "0571", "028", "027", "025", "0512"]
COUNTIES = ["110101", "110105", "310104", "330106", "440305", "510107", "320102", "420106",
            "610113", "370202", "350203", "430104", "210102", "120101", "500103"]  # fmt: skip
CARD_BINS = ["622202", "621700", "622848", "621226", "622588", "625965", "621483", "436742",
             "524091", "622700", "620522", "601382"]  # fmt: skip
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛")  # noqa: E501
COMPOUND = ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "司徒", "夏侯"]
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞浩宇欣怡子涵梓轩晨雪琳婷博文俊佳")  # noqa: E501
EN_FIRST = ["John", "Emily", "Michael", "Sarah", "David", "Jessica", "James", "Laura", "Daniel",
            "Olivia", "Robert", "Sophia", "William", "Grace", "Thomas", "Chloe"]  # fmt: skip
EN_LAST = ["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Anderson",
           "Thompson", "Harris", "Clark", "Lewis", "Walker", "Young", "King", "Wright"]  # fmt: skip
REGIONS = [  # province, city, district: real divisions
    ("浙江省", "杭州市", "西湖区"), ("浙江省", "宁波市", "鄞州区"), ("广东省", "深圳市", "南山区"),
    ("广东省", "广州市", "天河区"), ("江苏省", "南京市", "鼓楼区"),
    ("江苏省", "苏州市", "工业园区"),
    ("四川省", "成都市", "武侯区"), ("湖北省", "武汉市", "洪山区"), ("山东省", "青岛市", "市南区"),
    ("福建省", "厦门市", "思明区"), ("陕西省", "西安市", "雁塔区"), ("湖南省", "长沙市", "岳麓区"),
    ("", "北京市", "朝阳区"), ("", "北京市", "海淀区"), ("", "上海市", "浦东新区"),
    ("", "上海市", "徐汇区"), ("", "天津市", "和平区"), ("", "重庆市", "渝中区"),
]  # fmt: skip
ROADS = ["文三路", "人民路", "中山路", "解放路", "建设大道", "科技园南路", "天府大道", "长江路",
         "南京西路", "学院路", "光明街", "西湖大道", "滨江路", "春熙路", "和平里大街",
         "幸福巷"]  # fmt: skip
ESTATES = ["阳光花园", "万科城", "碧桂园", "东方明珠小区", "绿地新城", "金色家园", "翠苑",
           "华润公馆", "世纪新村", "龙湖时代天街"]  # fmt: skip
EMAIL_DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com",
                 "foxmail.com", "example.cn", "corp-mail.com.cn"]  # fmt: skip
PINYIN = ["zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu",
          "sun", "ma", "zhu", "hu", "lin", "xiao", "mei", "lili", "tom", "amy",
          "kevin"]  # fmt: skip
PROVINCE_ABBR = "京沪粤浙苏川鄂鲁闽陕湘津渝"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"

FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"})


class Gen:
    """Value generators; every value is checked by the same validator a recognizer uses."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def digits(self, n: int) -> str:
        return "".join(self.r.choice("0123456789") for _ in range(n))

    def mobile(self) -> str:
        while True:
            num = self.r.choice(MOBILE_PREFIXES) + self.digits(8)
            if phonenumbers.is_valid_number(phonenumbers.parse(num, "CN")):
                break
        style = self.r.random()
        if style < 0.45:
            return num
        if style < 0.6:
            return f"{num[:3]} {num[3:7]} {num[7:]}"
        if style < 0.7:
            return f"{num[:3]}-{num[3:7]}-{num[7:]}"
        if style < 0.8:
            return "+86 " + num if self.r.random() < 0.5 else "+86" + num
        if style < 0.87:
            return "0086 " + num
        return num.translate(FULLWIDTH)

    def landline(self) -> str:
        while True:
            area = self.r.choice(AREA_CODES)
            local = self.r.choice("2345678") + self.digits(7)
            if phonenumbers.is_valid_number(phonenumbers.parse(area + local, "CN")):
                break
        return self.r.choice([f"{area}-{local}", f"({area}){local}", f"{area} {local}"])

    def phone(self) -> str:
        return self.mobile() if self.r.random() < 0.82 else self.landline()

    def resident_id(self, want_x: bool | None = None) -> str:
        while True:
            born = date(1955, 1, 1) + timedelta(days=self.r.randrange(0, 50 * 365))
            body = f"{self.r.choice(COUNTIES)}{born:%Y%m%d}{self.digits(3)}"
            number = body + ric.calc_check_digit(body + "0")  # it skips the last character
            if want_x is not None and number.endswith("X") != want_x:
                continue
            if ric.is_valid(number):
                break
        if number.endswith("X") and self.r.random() < 0.4:
            number = number[:-1] + "x"
        return number

    def bank_card(self) -> str:
        length = self.r.choice([16, 16, 19, 19, 19, 17, 18])
        body = self.r.choice(CARD_BINS) + self.digits(length - 7)
        number = body + luhn.calc_check_digit(body)
        if self.r.random() < 0.35:
            return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        return number

    def email(self) -> str:
        local = self.r.choice(PINYIN) + self.r.choice(["", ".", "_"]) + (
            self.r.choice(PINYIN) if self.r.random() < 0.5 else self.digits(self.r.randint(2, 6))
        )
        if self.r.random() < 0.2:
            local = self.digits(self.r.randint(6, 10)).lstrip("0") or "12345"
        return f"{local}@{self.r.choice(EMAIL_DOMAINS)}"

    def ip(self) -> str:
        if self.r.random() < 0.25:
            groups = [f"{self.r.randrange(0, 0xFFFF):x}" for _ in range(8)]
            if self.r.random() < 0.5:
                return f"2001:db8:{groups[2]}::{groups[7]}"
            return ":".join(groups)
        first = self.r.choice([10, 36, 58, 101, 112, 116, 120, 172, 183, 192, 202, 223])
        return f"{first}.{self.r.randint(0, 255)}.{self.r.randint(0, 255)}.{self.r.randint(1, 254)}"

    def plate(self) -> str:
        head = self.r.choice(PROVINCE_ABBR) + self.r.choice(PLATE_LETTERS.replace("I", ""))
        style = self.r.random()
        if style < 0.25:
            second = self.r.choice("ABCDEFGHJK0123456789")
            return head + self.r.choice("DF") + second + self.digits(4)
        if style < 0.35:
            return head + self.digits(5) + self.r.choice("DF")
        tail = "".join(self.r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(2))
        return head + tail + self.digits(3)

    def passport(self) -> str:
        if self.r.random() < 0.6:
            return "E" + self.digits(8)
        return "E" + self.r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + self.digits(7)

    def uscc(self) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            body = "91" + self.r.choice(COUNTIES) + "".join(
                self.r.choice(alphabet) for _ in range(9)
            )
            number = body + uscc.calc_check_digit(body)
            if uscc.is_valid(number):
                return number

    def zh_name(self) -> str:
        sur = self.r.choice(COMPOUND) if self.r.random() < 0.12 else self.r.choice(SURNAMES)
        return sur + "".join(self.r.choice(GIVEN) for _ in range(self.r.choice([1, 2, 2])))

    def en_name(self) -> str:
        return f"{self.r.choice(EN_FIRST)} {self.r.choice(EN_LAST)}"

    def address(self) -> str:
        prov, city, district = self.r.choice(REGIONS)
        parts = [prov if self.r.random() < 0.8 else "", city, district]
        style = self.r.random()
        if style < 0.5:
            parts += [self.r.choice(ROADS), f"{self.r.randint(1, 999)}号"]
            if self.r.random() < 0.6:
                parts += [self.r.choice(ESTATES), f"{self.r.randint(1, 30)}栋",
                          f"{self.r.randint(1, 32)}0{self.r.randint(1, 6)}室"]
        elif style < 0.8:
            parts += [self.r.choice(ROADS), f"{self.r.randint(1, 999)}号",
                      f"{self.r.randint(1, 12)}号楼{self.r.randint(1, 6)}单元"
                      f"{self.r.randint(1, 28)}0{self.r.randint(1, 4)}"]
        else:
            parts += [self.r.choice(ESTATES), f"{self.r.randint(1, 20)}-{self.r.randint(1, 6)}-"
                      f"{self.r.randint(1, 30)}0{self.r.randint(1, 4)}"]
        return "".join(parts)

    def en_address(self) -> str:
        street = self.r.choice(["Main Street", "Oak Avenue", "Maple Road", "Park Lane",
                                "Cedar Drive", "Hill Road"])
        return f"{self.r.randint(1, 9999)} {street}"

    def wechat(self) -> str:
        if self.r.random() < 0.4:
            return "wxid_" + "".join(self.r.choice("abcdefghijkmnpqrstuvwxyz0123456789")
                                     for _ in range(10))
        return self.r.choice(PINYIN) + self.r.choice(["_", "", "-"]) + self.digits(4)

    def qq(self) -> str:
        return self.r.choice("123456789") + self.digits(self.r.randint(5, 9))

    # ---- hard negatives
    def order_no(self) -> str:
        return self.r.choice([
            "2024" + self.digits(15), "1" + self.digits(18), "SO" + self.digits(14),
            "DD" + self.digits(16), "4" + self.digits(17),
        ])

    def tracking_no(self) -> str:
        return self.r.choice([
            "SF" + self.digits(13), "YT" + self.digits(13), "JDVA" + self.digits(11),
            "77" + self.digits(13), "75" + self.digits(12), "9" + self.digits(12),
        ])

    def price(self) -> str:
        return self.r.choice([f"¥{self.r.randint(9, 9999)}.{self.digits(2)}",
                              f"{self.r.randint(9, 2999)}元", f"￥{self.r.randint(10, 999)}"])

    def sku(self) -> str:
        return self.r.choice([f"SKU-{self.digits(8)}", f"A{self.digits(4)}-XL",
                              f"货号{self.digits(10)}", f"型号KX-{self.digits(3)}"])

    def hotline(self) -> str:
        return self.r.choice(["400-820-8820", "400 610 1688", "4008123123", "800-820-3800",
                              "95588", "10086", "95533", "12315"])

    def day(self) -> str:
        d = date(2024, 1, 1) + timedelta(days=self.r.randrange(0, 700))
        return self.r.choice([f"{d:%Y-%m-%d}", f"{d.year}年{d.month}月{d.day}日",
                              f"{d:%Y/%m/%d} {self.r.randint(0, 23):02d}:"
                              f"{self.r.randint(0, 59):02d}",
                              f"{d:%Y%m%d}"])


# Placeholders: {NAME} {PHONE} ... become labelled values; {order}, {tracking}, {price},
# {sku}, {hotline}, {date}, {n} become unlabelled negatives.
TEMPLATES: dict[str, list[str]] = {
    "chat": [
        "亲，收货人{PERSON}，电话{PHONE}，麻烦帮我改一下地址：{ADDRESS}",
        "你好我叫{PERSON}，手机号{PHONE}，订单号{order}一直没发货",
        "客服你好，我的手机{PHONE}收不到验证码，能帮忙看看吗",
        "退款请打到我的银行卡{BANK_CARD}，开户人{PERSON}",
        "我的身份证号是{CN_RESIDENT_ID}，实名认证一直失败怎么回事",
        "加我微信{WECHAT_ID}，我把图片发你",
        "有问题可以联系我QQ{QQ_NUMBER}，或者发邮件到{EMAIL_ADDRESS}",
        "快递到了吗？单号{tracking}，收件人{PERSON}，{PHONE}",
        "麻烦发顺丰，地址{ADDRESS}，{PERSON}收",
        "{PERSON}先生您好，您的订单{order}已经发货了，请注意查收",
        "我换手机号了，新号码是{PHONE}，旧的不用了",
        "发票抬头写公司，统一社会信用代码{CN_USCC}，邮箱{EMAIL_ADDRESS}",
        "我是{PERSON}，昨天买的东西有质量问题，{date}收到的，想退货",
        "联系人：{PERSON} 电话：{PHONE} 备用：{PHONE}",
        "你们的客服电话{hotline}打不通，我的电话是{PHONE}请回电",
        "微信号：{WECHAT_ID}，QQ号：{QQ_NUMBER}，随时联系",
        "宝贝收到了，但是少了一件，订单{order}，价格{price}，麻烦补发",
        "能开专票吗？税号{CN_USCC}",
        "好的亲，已经给您备注了，预计{date}发出哦",
        "出境要用，护照号{PASSPORT}，姓名{PERSON}",
        "登录IP是{IP_ADDRESS}，异地登录提醒不是我本人操作",
        "车牌{CN_LICENSE_PLATE}，停在B2层，送货直接放车里就行",
        "您好，请提供一下您的收货地址和联系电话哦",
        "手机号{PHONE}，邮箱{EMAIL_ADDRESS}，都可以联系到我",
    ],
    "note": [
        "买家留言：请送到{ADDRESS}，联系{PHONE}",
        "收货地址：{ADDRESS} 收货人：{PERSON} 手机：{PHONE}",
        "备注：工作日白天家里没人，请放快递柜，有事打{PHONE}",
        "订单备注：货号{sku}要大一码，{PERSON}，{PHONE}",
        "寄件人{PERSON}，寄件地址{ADDRESS}，运单号{tracking}",
        "开户名：{PERSON} 卡号：{BANK_CARD} 开户行：招商银行",
        "实名信息：{PERSON}，身份证{CN_RESIDENT_ID}",
        "公司名称：杭州某某科技有限公司，信用代码：{CN_USCC}，地址：{ADDRESS}",
        "订单{order}，实付{price}，{date}下单，已备货",
        "物流单号{tracking}，{date}揽收，预计3天送达",
        "车辆信息：{CN_LICENSE_PLATE}，车主{PERSON}，电话{PHONE}",
    ],
    "review": [
        "质量很好，物流很快，{date}下单第二天就到了，五星好评",
        "衣服尺码偏小，建议买大一号，价格{price}还算实惠",
        "客服态度不错，退货很顺利，{hotline}一打就通",
        "用了一周，电池续航一般，型号{sku}，不推荐",
        "东西不错，就是快递员打我电话{PHONE}打了三次才找到地方",
        "差评！！说好的{date}发货，拖了一周",
        "第二次回购了，包装很好，{n}件都完好无损",
    ],
    "logistics": [
        "【顺丰速运】您的快件{tracking}已到{ADDRESS}附近，派送员{PERSON}，电话{PHONE}",
        "【菜鸟驿站】凭取件码{n}-{n}-{n}到驿站取件，咨询{hotline}",
        "您的包裹{tracking}已签收，签收人{PERSON}，如有疑问请联系{PHONE}",
        "快件{tracking}派送中，预计{date}送达",
    ],
    "en": [
        "Hi, my name is {PERSON_EN}, my phone is {PHONE} and email {EMAIL_ADDRESS}",
        "Please ship to {ADDRESS_EN}, recipient: {PERSON_EN}",
        "Dear {PERSON_EN}, your order {order} has shipped, tracking {tracking}",
        "Refund to card {BANK_CARD} please, cardholder {PERSON_EN}",
        "Login from IP {IP_ADDRESS} was blocked",
        "Order {order} total {price}, delivered on {date}",
        "Contact: {PERSON_EN}, {EMAIL_ADDRESS}",
        "Call me at {PHONE} after 6pm, thanks",
    ],
    "mixed": [
        "Hi 客服，my order {order} 还没到，phone {PHONE}",
        "地址是{ADDRESS}，name: {PERSON}，tel {PHONE}",
        "email我{EMAIL_ADDRESS}就行，thanks",
        "My WeChat 是 {WECHAT_ID}，add me 吧",
        "passport {PASSPORT}, 护照上的名字是{PERSON_EN}",
    ],
    "negative": [
        "订单号{order}已发货，运单号{tracking}，请留意物流信息",
        "本店客服热线{hotline}，工作时间9:00-18:00",
        "满{price}包邮，{date}前下单送赠品",
        "商品编码{sku}，库存{n}件",
        "活动时间{date}至{date}，每人限购{n}件",
        "版本号 2.{n}.{n}.{n} 已发布，修复若干问题",
        "退款{price}已原路退回，预计{date}到账，交易号{order}",
        "快递单号 {tracking} 已在派送途中",
        "请拨打{hotline}转人工，或在APP内留言",
        "Your order {order} of {price} ships on {date}",
    ],
}
KIND_WEIGHTS = {"chat": 34, "note": 17, "review": 8, "logistics": 8, "en": 11, "mixed": 7,
                "negative": 15}  # fmt: skip

HANDWRITTEN = [
    # full-width digits and punctuation
    "我的手机：{{PHONE_NUMBER:１３９１２３４５６７８}}，谢谢！",
    "电话（{{PHONE_NUMBER:０２１－６２３４５６７８}}）白天有人",
    # numbers glued to Chinese text
    "收货电话{{PHONE_NUMBER:15912345678}}谢谢",
    "身份证{{CN_RESIDENT_ID:11010519491231002X}}姓名{{PERSON:张伟}}",
    "证件号码{{CN_RESIDENT_ID:11010519900307101x}}，请核对",
    "卡号{{BANK_CARD:6222021234567890128}}尾号0128",
    "退款到{{BANK_CARD:6217 0012 3456 7890 122}}这张卡",
    # compound surnames
    "收货人{{PERSON:欧阳娜娜}}，电话{{PHONE_NUMBER:13800138000}}",
    "联系人：{{PERSON:司马相如}}",
    "开户人{{PERSON:诸葛亮}}，卡号{{BANK_CARD:6222 0200 0000 0000 000}}",
    "{{PERSON:上官婉儿}}女士您好，包裹已到",
    # name followed by a word that starts like a given name
    "收货人{{PERSON:王芳}}明天到家，请下午送",
    "我叫{{PERSON:李娜}}，在家等快递",
    # international and prefixed phones
    "Call me: {{PHONE_NUMBER:+86 138 0013 8000}} or {{PHONE_NUMBER:+1 415 555 2671}}",
    "号码{{PHONE_NUMBER:0086-13912345678}}",
    "座机{{PHONE_NUMBER:010-88886666}}转8001",
    # two numbers next to each other
    "{{PHONE_NUMBER:13912345678}} {{PHONE_NUMBER:13812345678}} 都可以打",
    # emails and IPs glued to CJK
    "邮箱{{EMAIL_ADDRESS:mei.li@example.cn}}收",
    "来源{{IP_ADDRESS:2001:db8::8a2e:370:7334}}被拦截",
    "IP地址：{{IP_ADDRESS:223.5.5.5}}，端口443",
    # plates
    "新能源车{{CN_LICENSE_PLATE:粤BD12345}}和{{CN_LICENSE_PLATE:沪A12345F}}都在",
    "车牌号{{CN_LICENSE_PLATE:京A·8B123}}",
    # passports and USCC
    "护照号码：{{PASSPORT:EA1234567}}",
    "统一社会信用代码：{{CN_USCC:91110000600037341L}}",
    # WeChat / QQ
    "vx：{{WECHAT_ID:lily_2024}} 备注买家",
    "扣扣{{QQ_NUMBER:88888888}}",
    # addresses
    "地址：{{ADDRESS:北京市朝阳区建国路88号院3号楼2单元501}}",
    "寄到{{ADDRESS:上海市浦东新区张江路665号}}，{{PERSON:陈静}}收",
    "我住在{{ADDRESS:阳光花园12-3-1201}}，快递放门口",
    # hard negatives
    "订单号：202405131234567890123，请核对",
    "运单号SF1234567890123已揽收",
    "价格￥1380.00，原价1999元",
    "客服热线400-820-8820，售后4006101688",
    "2024-05-13 13:45:00 下单成功",
    "SKU: A1380-XL 库存12件",
    "版本 10.2.3.4 更新说明",
    "发货时间20240513，批次号1380013800",
    "验证码 385921，5分钟内有效",
    "王女士您好，您的快递到了",
    "浙江省杭州市今天下雨",
    "我在万达广场3楼等你",
]


def render(template: str, g: Gen) -> tuple[str, list[dict[str, object]]]:
    """Fill a template; labelled placeholders become spans."""
    makers: dict[str, Callable[[], str]] = {
        "PERSON": g.zh_name, "PERSON_EN": g.en_name, "PHONE": g.phone,
        "CN_RESIDENT_ID": g.resident_id, "BANK_CARD": g.bank_card, "EMAIL_ADDRESS": g.email,
        "IP_ADDRESS": g.ip, "CN_LICENSE_PLATE": g.plate, "PASSPORT": g.passport,
        "CN_USCC": g.uscc, "ADDRESS": g.address, "ADDRESS_EN": g.en_address,
        "WECHAT_ID": g.wechat, "QQ_NUMBER": g.qq,
        "order": g.order_no, "tracking": g.tracking_no, "price": g.price, "sku": g.sku,
        "hotline": g.hotline, "date": g.day, "n": lambda: str(g.r.randint(1, 99)),
    }  # fmt: skip
    types = {"PHONE": "PHONE_NUMBER", "PERSON_EN": "PERSON", "ADDRESS_EN": "ADDRESS"}
    out: list[str] = []
    spans: list[dict[str, object]] = []
    pos = 0
    for m in re.finditer(r"\{([A-Za-z_]+)\}", template):
        out.append(template[pos : m.start()])
        key = m.group(1)
        value = makers[key]()
        start = sum(len(p) for p in out)
        out.append(value)
        if key[0].isupper():
            spans.append({"start": start, "end": start + len(value),
                          "entity_type": types.get(key, key)})
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def parse_markup(line: str) -> tuple[str, list[dict[str, object]]]:
    out: list[str] = []
    spans: list[dict[str, object]] = []
    pos = 0
    for m in re.finditer(r"\{\{([A-Z_]+):(.+?)\}\}", line):
        out.append(line[pos : m.start()])
        start = sum(len(p) for p in out)
        out.append(m.group(2))
        spans.append({"start": start, "end": start + len(m.group(2)), "entity_type": m.group(1)})
        pos = m.end()
    out.append(line[pos:])
    return "".join(out), spans


def build() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    g = Gen(rng)
    kinds = [k for k, w in KIND_WEIGHTS.items() for _ in range(w)]
    rows: list[dict[str, object]] = []
    for i in range(GENERATED):
        kind = rng.choice(kinds)
        text, spans = render(rng.choice(TEMPLATES[kind]), g)
        if kind in ("chat", "note") and rng.random() < 0.3:  # a second sentence
            more, more_spans = render(rng.choice(TEMPLATES["negative"]), g)
            offset = len(text) + 1
            text = f"{text}。{more}"
            spans += [{**s, "start": s["start"] + offset, "end": s["end"] + offset}
                      for s in more_spans]  # type: ignore[operator]
        rows.append({"id": f"g{i:04d}", "kind": kind, "text": text, "spans": spans})
    for i, line in enumerate(HANDWRITTEN):
        text, spans = parse_markup(line)
        rows.append({"id": f"h{i:03d}", "kind": "tricky", "text": text, "spans": spans})
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    labelled = sum(len(r["spans"]) for r in rows)  # type: ignore[arg-type]
    print(f"wrote {len(rows)} examples with {labelled} labelled spans to {OUT}")


if __name__ == "__main__":
    main()
