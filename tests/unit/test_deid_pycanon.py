"""The k and l a de-identified dataset's report claims, checked by an independent library.

pycanon (https://github.com/IFCA-Advanced-Computing/pycanon) computes k-anonymity and distinct
l-diversity straight from the released table; it shares no code with sharing/deid*.py. Datasets
are generated with several seeds and sizes, uniform and skewed (a long tail of small regions and
rare ages that can only be handled by suppression), from frames and from gate-shaped dict rows
(structured address lists, ISO birth dates). Each released row is also checked against its
input row (through the recipient's pseudonym): generalisation may blur a value, never change it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity

from privguard.sharing.deid import build_dataset
from privguard.sharing.deid_rules import (
    DIRECT_IDENTIFIERS,
    SUPPRESSED,
    AddressQI,
    AgeQI,
    CategoryQI,
    DatasetSpec,
    DateQI,
    RangeQI,
)
from privguard.sharing.pseudonyms import Pseudonymiser

AS_OF = date(2026, 11, 29)
PSEUDO = Pseudonymiser(bytes(range(32)), uuid.UUID(int=42))
CATEGORIES = ["books", "toys", "food", "health", "beauty", "digital", "home", "sports"]
REGIONS = [  # (province, city, district)
    ("广东省", "深圳市", "南山区"), ("广东省", "深圳市", "福田区"),
    ("广东省", "广州市", "天河区"), ("北京市", "北京市", "朝阳区"),
    ("北京市", "北京市", "海淀区"), ("上海市", "上海市", "浦东新区"),
    ("浙江省", "杭州市", "西湖区"), ("四川省", "成都市", "武侯区"),
    ("湖北省", "武汉市", "洪山区"), ("陕西省", "西安市", "雁塔区"),
    ("青海省", "西宁市", "城中区"), ("西藏自治区", "拉萨市", "城关区"),
    ("宁夏回族自治区", "银川市", "兴庆区"), ("海南省", "三亚市", "吉阳区"),
]


def _region_weights(skewed: bool) -> np.ndarray:
    if not skewed:
        return np.full(len(REGIONS), 1 / len(REGIONS))
    w = 1.0 / np.arange(1, len(REGIONS) + 1) ** 1.6  # Zipf-like: a few big cities, a long tail
    return w / w.sum()


def generate(n: int, seed: int, *, skewed: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(len(REGIONS), n, p=_region_weights(skewed))
    if skewed:  # mostly 20-45, some very old customers
        age = np.clip(rng.normal(32, 9, n), 16, 70).astype(int)
        rare = rng.random(n) < 0.004
        age[rare] = rng.integers(85, 101, int(rare.sum()))
    else:
        age = rng.integers(18, 70, n)
    cat_w = np.array([30, 20, 15, 10, 10, 8, 5, 2], float) if skewed else np.ones(8)
    return pd.DataFrame({
        "subject_id": [uuid.UUID(int=int(x)) for x in rng.integers(1, 2**62, n)],
        "age": age,
        "addr_province": [REGIONS[i][0] for i in region],
        "addr_city": [REGIONS[i][1] for i in region],
        "addr_district": [REGIONS[i][2] for i in region],
        "gender": rng.choice(["male", "female"], n, p=[0.45, 0.55]),
        "order_month": pd.to_datetime("2025-07-01")
        + pd.to_timedelta(rng.integers(0, 500, n), unit="D"),
        "spend": np.round(rng.gamma(2.0, 250.0, n), 2),
        "category": rng.choice(CATEGORIES, n, p=cat_w / cat_w.sum()),
    })


def spec_for(k: int, l_div: int, max_suppression: float = 0.05) -> DatasetSpec:
    return DatasetSpec(
        quasi_identifiers=(AgeQI("age"), AddressQI("addr"), CategoryQI("gender"),
                           DateQI("order_month"), RangeQI("spend", (100.0, 500.0, 2000.0))),
        k=k, l_diversity=l_div, sensitive="category" if l_div > 1 else None,
        max_suppression=max_suppression,
    )


@dataclass(frozen=True)
class Case:
    n: int
    seed: int
    skewed: bool
    k: int
    l_div: int


CASES = [
    Case(400, 1, False, 3, 1),
    Case(3000, 2, False, 5, 2),
    Case(6000, 3, True, 5, 2),
    Case(12000, 4, True, 10, 3),
    Case(20000, 5, True, 5, 2),
]


def pycanon_k_l(dataset: pd.DataFrame, qis: list[str], sensitive: str | None
                ) -> tuple[int, int | None]:
    table = dataset.astype({c: str for c in qis})
    k = anonymity.k_anonymity(table, qis)
    l_div = anonymity.l_diversity(table, qis, [sensitive]) if sensitive else None
    return int(k), None if l_div is None else int(l_div)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c.n}-seed{c.seed}-"
                         f"{'skewed' if c.skewed else 'uniform'}-k{c.k}-l{c.l_div}")
def test_pycanon_confirms_the_reported_k_and_l(case: Case) -> None:
    frame = generate(case.n, case.seed, skewed=case.skewed)
    spec = spec_for(case.k, case.l_div)
    dataset, report = build_dataset(frame, spec, PSEUDO)
    qis = [q.column for q in spec.quasi_identifiers]
    k, l_div = pycanon_k_l(dataset, qis, spec.sensitive)

    assert k >= report.k_achieved >= case.k
    assert k == report.k_achieved  # the report is exact, not just safe
    if case.l_div > 1:
        assert l_div is not None and report.l_achieved is not None
        assert l_div >= report.l_achieved >= case.l_div
        assert l_div == report.l_achieved
    assert len(dataset) == report.rows_out == case.n - report.suppressed
    assert report.suppression_rate <= spec.max_suppression
    assert list(dataset.columns) == ["pid", *qis, *([spec.sensitive] if spec.sensitive else [])]
    assert not set(dataset.columns) & DIRECT_IDENTIFIERS
    assert_truthful(frame, dataset, spec)


def test_a_skewed_dataset_is_released_with_suppression_and_pycanon_agrees() -> None:
    frame = generate(20000, 11, skewed=True)
    spec = spec_for(5, 2, max_suppression=0.02)
    dataset, report = build_dataset(frame, spec, PSEUDO)
    assert 0 < report.suppressed <= 0.02 * len(frame)
    # Without suppression the same targets need more generalisation (more information lost).
    _, strict = build_dataset(frame, spec_for(5, 2, max_suppression=0.0), PSEUDO)
    assert strict.suppressed == 0 and strict.information_loss > report.information_loss
    k, l_div = pycanon_k_l(dataset, [q.column for q in spec.quasi_identifiers], "category")
    assert k >= report.k_achieved >= 5 and l_div is not None and l_div >= report.l_achieved >= 2


def gate_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The same people as the vault's gate returns them: an address book, an ISO birth date,
    and fields the spec does not name (which must not reach the output)."""
    rows = []
    for r in frame.itertuples(index=False):
        born = date(AS_OF.year - int(r.age), 6, 15)
        rows.append({
            "subject_id": r.subject_id,
            "name": "张三",
            "mobile_phone": "+8613800138000",
            "date_of_birth": born.isoformat(),
            "shipping_addresses": [{"province": r.addr_province, "city": r.addr_city,
                                    "district": r.addr_district, "detail": "幸福路8号 2单元 301室",
                                    "postal_code": "100000"}],
            "gender": r.gender,
            "category": r.category,
        })
    return rows


@pytest.mark.parametrize("seed", [21, 22])
def test_gate_shaped_rows_give_the_same_guarantees(seed: int) -> None:
    frame = generate(4000, seed, skewed=True)
    spec = DatasetSpec(
        quasi_identifiers=(AgeQI("date_of_birth", birth_date=True),
                           AddressQI("shipping_addresses"), CategoryQI("gender")),
        k=5, l_diversity=2, sensitive="category", as_of=AS_OF,
    )
    dataset, report = build_dataset(gate_rows(frame), spec, PSEUDO)
    qis = ["date_of_birth", "shipping_addresses", "gender"]
    k, l_div = pycanon_k_l(dataset, qis, "category")
    assert k >= report.k_achieved >= 5
    assert l_div is not None and l_div >= report.l_achieved >= 2
    text = " ".join(dataset.astype(str).to_numpy().ravel())
    for leaked in ("张三", "13800138000", "幸福路", "301室", "100000", "-06-15"):
        assert leaked not in text


def assert_truthful(frame: pd.DataFrame, dataset: pd.DataFrame, spec: DatasetSpec) -> None:
    """Every released row generalises its own input row (joined through the pseudonym)."""
    source = frame.assign(pid=PSEUDO.many(frame["subject_id"]))
    joined = dataset.astype(str).merge(source, on="pid", how="left", suffixes=("", "_in"))
    assert len(joined) == len(dataset) and joined["subject_id"].notna().all()
    for row in joined.itertuples(index=False):
        r = row._asdict()
        assert _covers_age(r["age"], r["age_in"])
        full = f"{r['addr_province']}/{r['addr_city']}/{r['addr_district']}"
        assert r["addr"] == SUPPRESSED or full.startswith(r["addr"])
        assert r["gender"] in (SUPPRESSED, r["gender_in"])
        month = r["order_month_in"]
        quarter = f"{month.year}-Q{(month.month - 1) // 3 + 1}"
        assert r["order_month"] in (SUPPRESSED, f"{month:%Y-%m}", quarter, str(month.year))
        assert _covers_range(r["spend"], r["spend_in"])
        if spec.sensitive:
            assert r["category"] == r["category_in"]


def _covers_age(label: str, age: int) -> bool:
    if label == SUPPRESSED:
        return True
    if "-" in label:
        lo, hi = (int(x) for x in label.split("-"))
        return lo <= age <= hi
    return int(label) == age


def _covers_range(label: str, value: float) -> bool:
    if label == SUPPRESSED:
        return True
    lo, hi = (float(x) for x in label.strip("[)").split(","))
    return lo <= value < hi
