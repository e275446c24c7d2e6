"""Person names: Chinese names next to the words that introduce them, English names after
"my name is", "Dear", "Mr." and the like.

A Chinese name is a surname from ``data/surnames.txt`` (single or compound, 欧阳, 司马) and one or
two given characters. Free text gives no capital letters, so a name is only looked for where the
text says one stands: after 收货人/联系人/我叫/开户人/姓名…, or before 先生/女士/您好…. How many
characters the given name has is the hard part (收货人王芳明天到: 王芳, not 王芳明); a short window
after the surname is segmented with jieba's offline part-of-speech tagger, whose dictionary ships
inside its wheel. jieba is initialised once, on the first name candidate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import cache, lru_cache
from importlib import resources
from threading import Lock
from typing import Any

from privguard.detect.recognizers.numbers import digit_runs
from privguard.detect.rules import Candidate, Doc, PatternRecognizer, trie_regex

CJK = "\u4e00-\u9fff"
# Characters that end a given name: they start the words that usually follow a name.
BREAK = set(
    "电手地收联的是在了和说邮号先女小姐您你我他她它们请帮给到寄送住家买卖要就也还都已把被对"
    "从向往等与及或但而又再很太最更"
)
COMMON_WORD_FREQ = 500  # jieba dictionary counts; real names are rare or absent
PHONE_HEAD = re.compile(r"1[3-9]|0[1-9]|\(0")
HONORIFICS = ("先生", "女士", "小姐", "同学", "老师", "师傅", "您好", "你好", "经理", "总监")
ZH_CONTEXT = (
    "收货人", "收件人", "联系人", "寄件人", "开户人", "开户名", "持卡人", "户名", "姓名", "名字",
    "我叫", "我是", "本人", "签收人", "取件人", "收款人", "付款人", "买家", "患者", "乘客",
    "业主", "车主", "昵称", "派送员", "快递员", "配送员", "骑手", "实名信息", "实名", "name",
)  # fmt: skip
EN_CONTEXT = (
    "my name is", "name is", "name", "recipient", "contact person", "contact", "ship to",
    "deliver to", "attn", "attention", "dear", "cardholder", "card holder", "account holder",
    "signed by", "mr", "mrs", "ms", "miss", "dr", "customer name", "full name",
    "名字是", "名字", "姓名", "收件人", "收货人", "联系人", "我叫", "持卡人", "开户人",
)  # fmt: skip
EN_STOP = frozenset({
    "Phone", "Tel", "Mobile", "Email", "Address", "Thanks", "Thank", "Order", "Please", "Hi",
    "Hello", "Regards", "Best", "The", "And", "Street", "Road", "Room", "Card", "Number", "Id",
    "Passport", "From", "To", "Re", "Cc", "Sent", "Date",
})


@cache
def surnames() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(compound, single) surnames from the shipped list."""
    text = resources.files("privguard.detect").joinpath("data/surnames.txt").read_text("utf-8")
    words = [w for line in text.splitlines() if not line.startswith("#") for w in line.split()]
    compound = tuple(sorted({w for w in words if len(w) > 1}, key=len, reverse=True))
    single = tuple(sorted({w for w in words if len(w) == 1}))
    return compound, single


_JIEBA_LOCK = Lock()
_posseg: Any = None


def _segmenter() -> Any:
    """jieba's POS tagger, initialised once per process (its dictionary is in the wheel)."""
    global _posseg
    if _posseg is None:
        with _JIEBA_LOCK:
            if _posseg is None:
                import jieba
                import jieba.posseg

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _posseg = jieba.posseg
    return _posseg


def name_length(text: str, start: int, surname_len: int, longest: int) -> int:
    """How many characters from ``start`` form the name, between surname + 1 and ``longest``."""
    if longest <= surname_len + 1:
        return longest
    return _name_length(text[start : start + longest + 3], surname_len, longest)


@lru_cache(maxsize=16384)
def _name_length(window: str, surname_len: int, longest: int) -> int:
    """The name stops before its last character when that character starts a word of jieba's
    dictionary that runs past the name (王芳|明天到: 明天 is a word, so the name is 王芳; in
    钟婷琳，no word starts at 琳, so the name is 钟婷琳). A dictionary lookup, not a full
    segmentation: it costs a microsecond, and the surname and context already did the rest."""
    freq = _segmenter().dt.tokenizer.FREQ
    last = longest - 1
    for size in (2, 3):
        word = window[last : last + size]
        if len(word) == size and freq.get(word):
            return last
    return longest


def clear_caches() -> None:
    _name_length.cache_clear()


def is_common_word(word: str) -> bool:
    """A dictionary word that is not a name (好的, 明天), or so frequent that it is a word
    whatever its tag (谢谢 is tagged nr): not a name even after a surname character."""
    seg = _segmenter().dt
    tag = seg.word_tag_tab.get(word)
    if tag is not None and not tag.startswith("nr"):
        return True
    return (seg.tokenizer.FREQ.get(word) or 0) >= COMMON_WORD_FREQ


class ChineseNameRecognizer(PatternRecognizer):
    name = "person_zh"
    entity_type = "PERSON"
    languages = frozenset({"zh"})
    context = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        compound, single = surnames()
        # Compound surnames first: 欧阳娜娜 is 欧阳 + 娜娜, not 欧 + 阳娜.
        sur = "(?:" + trie_regex(compound) + "|[" + "".join(single) + "])"
        ctx = trie_regex(ZH_CONTEXT)
        hon = trie_regex(HONORIFICS)
        # Matched against the lower-cased text (Chinese is unchanged by it), so "Name:" needs no
        # case-insensitive flag, which would keep the engine from skipping ahead.
        self.left = re.compile(
            rf"{ctx}[\s:是为叫]{{0,3}}(?P<name>(?P<sur>{sur})[{CJK}]{{1,2}})"
        )
        # A name right before a phone number: 孟兰俊，13801460091
        self.before_phone = re.compile(
            rf"(?<![{CJK}])(?P<name>(?P<sur>{sur})[{CJK}]{{1,2}})[，,、 ]*"
            r"(?:电话|手机|tel|Tel|TEL)?[:： ]*\(?\Z"
        )
        self.honorific = re.compile(hon + "|收(?:$|[，,。\\s])")
        self.right = re.compile(
            rf"(?<![{CJK}])(?P<name>(?P<sur>{sur})[{CJK}]{{1,2}}?)(?={hon}|收$|收[，,。\s])"
        )

    def find(self, doc: Doc) -> Iterator[Candidate]:
        text = doc.text
        for m in self.left.finditer(doc.lower):
            start = m.start("name")
            sur_len = len(m.group("sur"))
            longest = sur_len
            for ch in text[start + sur_len : m.end("name")]:
                if ch in BREAK:
                    break
                longest += 1
            if longest == sur_len:
                continue
            n = name_length(text, start, sur_len, longest)
            if text[start + sur_len : start + n] in HONORIFICS:
                continue
            yield Candidate(start, start + n, 0.85)
        for run in digit_runs(doc):
            head = text[run.start : run.start + 3]
            if not (head[:1] == "+" or head[:2] == "00" or PHONE_HEAD.match(head)):
                continue
            end_at = run.start + (head[:1] == "(")
            for m in self.before_phone.finditer(text, max(0, run.start - 10), end_at):
                start, end = m.span("name")
                given = text[start + len(m.group("sur")) : end]
                if any(ch in BREAK for ch in given) or is_common_word(text[start:end]):
                    continue
                yield Candidate(start, end, 0.7)
        if self.honorific.search(text) is None:
            return
        for m in self.right.finditer(text):
            start, end = m.span("name")
            given = text[start + len(m.group("sur")) : end]
            if given in HONORIFICS or any(ch in BREAK for ch in given):
                continue
            yield Candidate(start, end, 0.75)


class EnglishNameRecognizer(PatternRecognizer):
    name = "person_en"
    entity_type = "PERSON"
    languages = frozenset({"en", "zh"})

    def __post_init__(self) -> None:
        super().__post_init__()
        ctx = trie_regex(EN_CONTEXT)
        self.context_re = re.compile(ctx)
        self.name_re = re.compile(
            r"\.?[ \t]*[:：,]?[ \t]*(?P<name>[A-Z][a-z]+(?:[-' ][A-Z][a-z]+){0,2})(?![A-Za-z])"
        )

    def find(self, doc: Doc) -> Iterator[Candidate]:
        text = doc.text
        lower = doc.lower
        for c in self.context_re.finditer(lower):
            if c.start() and "a" <= lower[c.start() - 1] <= "z":
                continue  # inside a word ("pdr." is not "dr.")
            m = self.name_re.match(text, c.end())
            if m is None:
                continue
            start = m.start("name")
            words = m.group("name").split(" ")
            while words and words[-1] in EN_STOP:
                words.pop()
            if not words or words[0] in EN_STOP:
                continue
            yield Candidate(start, start + len(" ".join(words)), 0.8)
