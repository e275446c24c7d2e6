"""The engine around the recognizers: normalisation with a way back, overlap resolution, the
plug-in registry, redaction operators, and a quality floor on the labelled corpus."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from privguard.crypto.blind_index import BlindIndexer
from privguard.detect import default_detector, redact, scan
from privguard.detect.normalise import normalise
from privguard.detect.operators import Hash, Mask, Replace, Tokenise, operator_by_name, redact_with
from privguard.detect.registry import UnknownRecognizer, build_detector, register, unregister
from privguard.detect.rules import Candidate, Doc, Finding, resolve

CORPUS = Path(__file__).resolve().parents[1] / "data" / "detect" / "corpus.jsonl"


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii 123", "中文，全角１２３", "好的…2㎏装", "e\u0301t\u00e9 ﬁ ①②", "ﾊﾞｯｸ 半角",
        "İstanbul",
    ],
)
def test_every_folded_character_maps_back_into_the_original(text: str) -> None:
    n = normalise(text)
    for i in range(len(n.text)):
        s, e = n.to_original(i, i + 1)
        assert 0 <= s < e <= len(text)
    assert n.to_original(0, len(n.text)) == (0, len(text))


def test_full_width_folds_in_place() -> None:
    n = normalise("电话：１３８　１２３４")
    assert n.text == "电话:138 1234"
    assert n.starts is None  # one-to-one: no position table needed


def test_resolve_keeps_the_longest_then_the_highest_score() -> None:
    kept = resolve(
        [
            Finding(0, 11, "PHONE_NUMBER", 0.85),
            Finding(0, 18, "CN_RESIDENT_ID", 0.95),
            Finding(20, 24, "PERSON", 0.7),
            Finding(20, 24, "ADDRESS", 0.8),
        ]
    )
    assert kept == [Finding(0, 18, "CN_RESIDENT_ID", 0.95), Finding(20, 24, "ADDRESS", 0.8)]


class OrderCodeRecognizer:
    """A plug-in written against the protocol only: our own order codes are PI-free, but a
    merchant might want them found."""

    name = "order_code"
    entity_type = "ORDER_CODE"
    languages = frozenset({"zh", "en"})
    pattern = re.compile(r"SO[0-9]{6}")

    def find(self, doc: Doc) -> Iterator[Candidate]:
        for m in self.pattern.finditer(doc.text):
            yield Candidate(m.start(), m.end(), 0.9)


def test_a_registered_recognizer_joins_a_detector() -> None:
    default_detector()  # built before: the shared detector must not pick the test plug-in up
    register("order_code_test", OrderCodeRecognizer)
    try:
        detector = build_detector(["phone", "order_code_test"])
    finally:
        unregister("order_code_test")
    text = "订单ＳＯ123456，电话13812345678"
    assert [(f.entity_type, text[f.start : f.end]) for f in detector.scan(text)] == [
        ("ORDER_CODE", "ＳＯ123456"),
        ("PHONE_NUMBER", "13812345678"),
    ]
    with pytest.raises(UnknownRecognizer, match="no_such"):
        build_detector(["no_such"])


TEXT = "收货人张伟，电话138 1234 5678，邮箱Zhang.Wei@QQ.com"


def test_replace_is_the_default() -> None:
    assert redact(TEXT) == "收货人<PERSON>，电话<PHONE_NUMBER>，邮箱<EMAIL_ADDRESS>"


def test_mask_keeps_a_suffix_but_hides_at_least_half() -> None:
    assert redact(TEXT, operator=Mask(keep_suffix=4)) == (
        "收货人*伟，电话*********5678，邮箱************.com"
    )
    assert redact("电话13812345678", operator=Mask(keep_suffix=0)) == "电话***********"
    with pytest.raises(ValueError):
        Mask(keep_suffix=-1)


def test_hash_is_keyed_and_ignores_spelling() -> None:
    key_a, key_b = BlindIndexer(b"a" * 32), BlindIndexer(b"b" * 32)
    one = redact("电话138 1234 5678", operator=Hash(key_a))
    assert one == redact("电话１３８１２３４５６７８", operator=Hash(key_a))
    assert re.fullmatch(r"电话<PHONE_NUMBER:[0-9a-f]{16}>", one)
    assert one != redact("电话138 1234 5678", operator=Hash(key_b))
    assert one != redact("电话13812345679", operator=Hash(key_a))


def test_per_type_operators_and_tokenise_protocol() -> None:
    class Memory:
        def __init__(self) -> None:
            self.values: dict[str, str] = {}

        def tokenise(self, entity_type: str, value: str) -> str:
            token = f"tk_{len(self.values):032x}"
            self.values[token] = value
            return token

    vault = Memory()
    out = redact(TEXT, operator=Replace(), operators={"PHONE_NUMBER": Tokenise(vault)})
    assert out == f"收货人<PERSON>，电话<PHONE_NUMBER:tk_{0:032x}>，邮箱<EMAIL_ADDRESS>"
    assert vault.values == {f"tk_{0:032x}": "138 1234 5678"}


def test_operator_by_name_and_overlap_guard() -> None:
    assert isinstance(operator_by_name("mask", keep_suffix=2), Mask)
    with pytest.raises(ValueError, match="index key"):
        operator_by_name("hash")
    with pytest.raises(ValueError, match="unknown operator"):
        operator_by_name("shred")
    with pytest.raises(ValueError, match="overlap"):
        redact_with("abcdef", [Finding(0, 4, "X", 1), Finding(2, 5, "Y", 1)], Replace())


def test_quality_floor_on_the_labelled_corpus() -> None:
    """A regression guard: the corpus figures benchmarks/detect.py reports must not fall below
    the issue's goals (leak <= 1 %, over-redaction <= 0.5 %)."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 400
    pi = leaked = other = over = 0
    for row in rows:
        text = row["text"]
        gold = [False] * len(text)
        for s in row["spans"]:
            for k in range(s["start"], s["end"]):
                gold[k] = True
        covered = [False] * len(text)
        for f in scan(text):
            for k in range(f.start, f.end):
                covered[k] = True
        for g, c in zip(gold, covered, strict=True):
            pi += g
            leaked += g and not c
            other += not g
            over += c and not g
    assert leaked / pi <= 0.01
    assert over / other <= 0.005
