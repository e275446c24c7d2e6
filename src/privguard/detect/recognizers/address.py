"""Postal addresses: a chain of administrative divisions (province, city, district: the shipped
``data/regions.tsv``), then town, road and number, estate, building, unit and room.

A place name alone (北京, 浦东新区, 万达广场) is not a person's address; a finding needs a part
that narrows it to a door: a road with a number, an estate with a building or room, or a region
chain followed by a road, estate or number. Names of roads and estates are runs of Chinese
characters that stop at characters which begin the words around an address (我家住在…, 寄到…),
so the span starts at the address, not at the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources

from privguard.detect.rules import Candidate, Doc, PatternRecognizer, trie_regex

STOP = "我你他她您在住到寄送是的了家址请发给帮往从收货电话手机号码与及或也还就要想把被对向于"
SUFFIXES = (
    "特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "自治县",
    "自治旗", "地区", "省", "市", "盟",
)  # fmt: skip
STRONG_UNIT = ("号楼", "栋", "幢", "单元", "室", "户")
# An address has at least one of these; a text without any skips the Chinese pattern.
KEY = re.compile(r"[路街巷弄号栋幢室苑园村城府庭里湾阁厦场寓区镇乡楼]")


@cache
def region_names() -> tuple[str, ...]:
    """Every division's full name, and the short names of provinces and prefectures
    (浙江, 杭州); county names are kept whole (朝阳 alone is too common a word)."""
    raw = resources.files("privguard.detect").joinpath("data/regions.tsv").read_text("utf-8")
    names: set[str] = set()
    for line in raw.splitlines():
        if not line or line.startswith("#"):
            continue
        code, name = line.split("\t")
        if "直辖" in name or name in ("市辖区", "县"):
            continue
        names.add(name)
        if code.endswith("00"):  # province or prefecture
            for suffix in SUFFIXES:
                if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                    names.add(name[: -len(suffix)])
                    break
    return tuple(sorted(names))


def _name_chars() -> str:
    """Chinese characters and digits that may stand inside a road or estate name."""
    stops = sorted({ord(c) for c in STOP})
    parts = []
    lo = 0x4E00
    for s in stops:
        if s > lo:
            parts.append(f"\\u{lo:04x}-\\u{s - 1:04x}")
        lo = s + 1
    parts.append(f"\\u{lo:04x}-\\u9fff")
    return "[" + "".join(parts) + "0-9]"


@cache
def address_pattern() -> re.Pattern[str]:
    n = _name_chars()
    region = trie_regex(region_names())
    num = r"(?:[0-9]+(?:-[0-9]+)?|[一二三四五六七八九十百零]+)号(?:院)?"
    unit = (
        r"(?:[0-9A-Za-z]+|[一二三四五六七八九十]+)(?:号楼|栋|幢|座|单元|楼|层|室|户|号|区)"
        r"|[0-9]+(?:-[0-9]+){1,2}(?:室|号)?"
    )
    estate = (
        rf"{n}{{1,10}}?(?:小区|花园|公寓|大厦|广场|中心|家园|新村|新城|社区|公馆|大楼|宿舍|天街"
        r"|苑|园|城|村|府|庭|里|湾|阁)"
        # or any name right before a building number (龙湖时代天街1栋)
        rf"|{n}{{2,10}}?(?=(?:[0-9A-Za-z]+|[一二三四五六七八九十]+)(?:号楼|栋|幢|座|单元))"
    )
    return re.compile(
        rf"(?P<admin>(?:(?:{region})(?![路街巷弄道])){{1,4}})?"
        rf"(?P<town>{n}{{1,6}}?(?:街道|镇|乡|开发区|新区|工业园区|工业园))?"
        rf"(?P<road>{n}{{1,8}}?(?:大道|大街|路|街|巷|弄|胡同))?"
        rf"(?P<num>{num})?"
        rf"(?P<estate>{estate})?"
        rf"(?P<unit>(?: ?(?:{unit})){{1,6}}(?:[0-9]{{2,5}}(?![0-9]))?)?"
    )


EN_ADDRESS = re.compile(
    r"(?<![A-Za-z0-9])[0-9]{1,5} (?:[A-Z][a-z]+ ){1,3}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl)\.?"
    r"(?:,? (?:Apt|Apartment|Suite|Unit|Room|#)\.? ?[0-9A-Za-z\-]+)?"
    r"(?:, [A-Z][a-z]+(?: [A-Z][a-z]+)?)?(?![A-Za-z])"
)


class AddressRecognizer(PatternRecognizer):
    name = "address"
    entity_type = "ADDRESS"
    context = ("地址", "收货地址", "住址", "住在", "寄到", "送到", "发到", "家在", "address")
    context_boost = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.zh = address_pattern()
        self.runs = re.compile(_name_chars() + "+")

    def find(self, doc: Doc) -> Iterator[Candidate]:
        text = doc.text
        if KEY.search(text) is not None:
            yield from self._find_zh(doc, text)
        if doc.has_digit:
            for m in EN_ADDRESS.finditer(text):
                yield Candidate(m.start(), m.end(), self.adjust(doc, m.start(), 0.8))

    def _find_zh(self, doc: Doc, text: str) -> Iterator[Candidate]:
        """An address starts inside a run of name characters (Chinese without the stop
        characters, digits) that holds a key character (路, 号, 室, 省…). Only such runs are
        tried, from their first character up to the key, so most of the text costs one pass
        of a character-class regex."""
        done = 0
        zh = self.zh
        for run in self.runs.finditer(text):
            rs, re_ = run.span()
            if re_ <= done:
                continue
            key = KEY.search(text, max(rs, done), re_)
            if key is None:
                continue
            for start in range(max(rs, done), key.start() + 1):
                m = zh.match(text, start)
                if m is None or m.end() <= key.start():
                    continue
                score = self._score(m)
                if score is None:
                    continue
                yield Candidate(start, m.end(), self.adjust(doc, start, score))
                done = m.end()
                break

    @staticmethod
    def _score(m: re.Match[str]) -> float | None:
        admin, town, road, num, estate, unit = m.group(
            "admin", "town", "road", "num", "estate", "unit"
        )
        strong = bool(unit) and (
            any(u in unit for u in STRONG_UNIT) or re.search(r"[0-9]-[0-9]", unit) is not None
        )
        if road and num:
            return 0.85
        if estate and strong:
            return 0.8
        if admin and (road or estate or num or strong):
            return 0.8
        if town and road:
            return 0.7
        return None
