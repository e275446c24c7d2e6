"""Recognizers of written identifiers: e-mail and IP addresses, licence plates, WeChat IDs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from privguard.detect.rules import Doc, PatternRecognizer


class EmailRecognizer(PatternRecognizer):
    name = "email"
    entity_type = "EMAIL_ADDRESS"
    # The local part may be glued to Chinese text (邮箱abc@qq.com): the left boundary is any
    # character that cannot be in a local part, not \b.
    pattern = re.compile(
        r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
    )

    def validate(self, value: str) -> float | None:
        local = value.partition("@")[0]
        if local.endswith(".") or ".." in local:
            return None
        return 0.95

    def spans(self, doc: Doc) -> Iterator[tuple[int, int]]:
        if "@" in doc.text:
            yield from super().spans(doc)


class IpRecognizer(PatternRecognizer):
    """IPv4 and IPv6 addresses, checked by :mod:`ipaddress`; version numbers are not IPs."""

    name = "ip"
    entity_type = "IP_ADDRESS"
    pattern = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])")
    v6 = re.compile(
        r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)"
        r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?(?![0-9A-Fa-f:])"
    )
    needs_digit = True
    context = ("ip", "地址", "登录", "登陆", "访问", "来源", "login", "address", "host")
    negative_context = ("版本", "version")
    context_boost = 0.2
    negative_penalty = 0.4
    window = 8

    def spans(self, doc: Doc) -> Iterator[tuple[int, int]]:
        text = doc.text
        if "." in text:
            for m in self.pattern.finditer(text):
                yield m.span()
        if "::" in text or text.count(":") >= 3:
            for m in self.v6.finditer(text):
                yield m.span()

    def validate(self, value: str) -> float | None:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            return None
        return 0.85 if ip.version == 6 else 0.75


PROVINCE_ABBR = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTER = "A-HJ-NP-Z"


class LicensePlateRecognizer(PatternRecognizer):
    """PRC licence plates: 粤B12345, 京A·D1234 style, and the 8-character new-energy plates
    (粤BD12345 small, 粤B12345D large), with the 学/警/挂/领/港/澳 suffixes."""

    name = "cn_license_plate"
    entity_type = "CN_LICENSE_PLATE"
    languages = frozenset({"zh", "en"})
    pattern = re.compile(
        rf"[{PROVINCE_ABBR}][{_PLATE_LETTER}][·•\- ]?"
        rf"(?:[DF][{_PLATE_LETTER}0-9][0-9]{{4}}|[0-9]{{5}}[DF]"
        rf"|[{_PLATE_LETTER}0-9]{{4}}[{_PLATE_LETTER}0-9挂学警港澳领试超使])"
        r"(?![A-Za-z0-9])"
    )
    context = ("车牌", "车辆", "车号", "plate", "停车")
    context_boost = 0.1

    def validate(self, value: str) -> float | None:
        body = re.sub(r"[·•\- ]", "", value)[2:]
        # A plate body has at most two letters (besides D/F of new-energy plates), and an
        # all-letter body is a word, not a plate.
        letters = sum(c.isascii() and c.isalpha() for c in body)
        if letters > 3 or not any(c.isdigit() for c in body):
            return None
        return 0.85


class WeChatRecognizer(PatternRecognizer):
    """WeChat IDs look like any handle (6-20 characters, starting with a letter), so only one
    right after 微信/vx/wx/WeChat counts."""

    name = "wechat"
    entity_type = "WECHAT_ID"
    pattern = re.compile(
        r"(?:微信号?|weixin|wechat(?: ?id)?|vx|wx|v信|威信|加v)\s*(?:号码|号|是|为|[:：])?\s*"
        r"([A-Za-z][A-Za-z0-9_\-]{5,19})(?![A-Za-z0-9_\-])",
        re.IGNORECASE,
    )
    group = 1
    trigger = re.compile(r"微信|weixin|wechat|vx|wx|v信|威信|加v")

    def spans(self, doc: Doc) -> Iterator[tuple[int, int]]:
        if self.trigger.search(doc.lower) is None:
            return
        yield from super().spans(doc)

    def validate(self, value: str) -> float | None:
        return 0.85
