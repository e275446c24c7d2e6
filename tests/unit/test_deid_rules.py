"""Generalisation hierarchies, spec refusals, the lattice search and the report (no database).

pycanon's independent check of the achieved k and l is in test_deid_pycanon.py.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import privguard.catalog
from privguard.sharing.deid import build_dataset
from privguard.sharing.deid_rules import (
    DIRECT_IDENTIFIERS,
    GENERALISE_ONLY,
    SUPPRESSED,
    AddressQI,
    AgeQI,
    CategoryQI,
    DatasetSpec,
    DateQI,
    DeidError,
    RangeQI,
    SpecRefused,
    TargetUnreachable,
    level_labels,
)
from privguard.sharing.pseudonyms import Pseudonymiser

PSEUDO = Pseudonymiser(b"\x01" * 32, uuid.UUID(int=7))

# ------------------------------------------------------------------------------- hierarchies


def test_age_generalises_to_nested_bands_then_star() -> None:
    labels = level_labels(AgeQI("age"), [34, 40, 19, None])
    assert labels == [
        ["34", "40", "19", "(missing)"],
        ["30-34", "40-44", "15-19", "(missing)"],
        ["30-39", "40-49", "10-19", "(missing)"],
        ["20-39", "40-59", "0-19", "(missing)"],
        [SUPPRESSED] * 4,
    ]


def test_address_generalises_district_city_province_and_never_shows_detail() -> None:
    labels = level_labels(AddressQI("addr"), [("广东省", "深圳市", "南山区")])
    assert [row[0] for row in labels] == [
        "广东省/深圳市/南山区", "广东省/深圳市", "广东省", SUPPRESSED,
    ]
    frame = pd.DataFrame({
        "subject_id": [uuid.UUID(int=i) for i in range(6)],
        "addr": [[{"province": "广东省", "city": "深圳市", "district": "南山区",
                   "detail": "科技园路1号 3栋 1201室", "postal_code": "518057"}]] * 6,
    })
    out, _ = build_dataset(frame, DatasetSpec((AddressQI("addr"),), k=2), PSEUDO)
    text = " ".join(out.astype(str).to_numpy().ravel())
    assert "1201" not in text and "科技园" not in text and "518057" not in text
    assert set(out["addr"].astype(str)) == {"广东省/深圳市/南山区"}


def test_dates_generalise_to_month_quarter_year() -> None:
    labels = level_labels(DateQI("d"), ["2026-03", "2026-11"])
    assert labels[:3] == [["2026-03", "2026-11"], ["2026-Q1", "2026-Q4"], ["2026", "2026"]]


def test_ranges_nest_and_categories_use_their_groups() -> None:
    assert level_labels(RangeQI("spend", (100.0, 500.0)), [300.0, 0.0]) == [
        ["[300, 400)", "[0, 100)"], ["[0, 500)", "[0, 500)"], [SUPPRESSED, SUPPRESSED],
    ]
    groups = {"gold": "member", "silver": "member", "none": "guest"}
    assert level_labels(CategoryQI("tier", groups), ["gold", "none"])[1] == ["member", "guest"]


def test_birth_dates_become_ages_as_of_the_spec_date_and_never_leave() -> None:
    frame = pd.DataFrame({
        "subject_id": [uuid.UUID(int=i) for i in range(4)],
        "date_of_birth": ["1990-11-29", "1990-11-30", "1990-11-30", "1990-11-29"],
    })
    spec = DatasetSpec((AgeQI("date_of_birth", birth_date=True),), k=2,
                       as_of=date(2026, 11, 29))
    out, report = build_dataset(frame, spec, PSEUDO)
    assert sorted(out["date_of_birth"].astype(str)) == ["35", "35", "36", "36"]
    assert report.levels == {"date_of_birth": "age"}


# ------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("identifier", sorted(DIRECT_IDENTIFIERS))
def test_a_spec_naming_a_direct_identifier_is_refused_naming_it(identifier: str) -> None:
    for spec in (
        DatasetSpec((CategoryQI(identifier),), k=2),
        DatasetSpec((AgeQI("age"),), k=2, keep=(identifier,)),
        DatasetSpec((AgeQI("age"),), k=2, sensitive=identifier),
    ):
        with pytest.raises(SpecRefused) as info:
            build_dataset([], spec, PSEUDO)
        assert info.value.field == identifier
        assert info.value.rule == "deid.direct_identifier"
        assert identifier in str(info.value)


def test_every_identifying_catalog_field_is_a_direct_identifier() -> None:
    catalog = yaml.safe_load(
        (Path(privguard.catalog.__file__).parent / "catalog.yaml").read_text()
    )
    identifying = ("user.name", "user.contact.phone_number", "user.contact.email",
                   "user.government_id", "user.financial", "user.device",
                   "user.location.precise")
    for name, field in catalog["fields"].items():
        if field["category"].startswith(identifying):
            assert name in DIRECT_IDENTIFIERS, name
        else:
            assert name in GENERALISE_ONLY or field["category"] == "user.demographic.gender", name


@pytest.mark.parametrize("column", ["date_of_birth", "shipping_addresses", "purchase_history"])
def test_fields_that_identify_when_raw_may_only_be_generalised(column: str) -> None:
    with pytest.raises(SpecRefused) as info:
        build_dataset([], DatasetSpec((AgeQI("age"),), k=2, keep=(column,)), PSEUDO)
    assert info.value.field == column and info.value.rule == "deid.generalise_only"


@pytest.mark.parametrize(
    ("spec", "field", "rule"),
    [
        (DatasetSpec((AgeQI("age"),), k=1), "k", "deid.k_range"),
        (DatasetSpec((AgeQI("age"),), k=5, l_diversity=2), "sensitive", "deid.l_needs_sensitive"),
        (DatasetSpec((AgeQI("age"),), k=2, l_diversity=3, sensitive="cat"), "l_diversity",
         "deid.l_above_k"),
        (DatasetSpec((AgeQI("age"),), k=5, max_suppression=1.0), "max_suppression",
         "deid.suppression_range"),
        (DatasetSpec((RangeQI("spend", (100.0, 250.0)),), k=5), "spend",
         "deid.hierarchy_nesting"),
        (DatasetSpec((AgeQI("dob", birth_date=True),), k=5), "as_of", "deid.as_of_required"),
        (DatasetSpec((), k=5), "quasi_identifiers", "deid.no_quasi_identifiers"),
    ],
)
def test_malformed_specs_are_refused_naming_the_field(
    spec: DatasetSpec, field: str, rule: str
) -> None:
    with pytest.raises(SpecRefused) as info:
        build_dataset([], spec, PSEUDO)
    assert (info.value.field, info.value.rule) == (field, rule)


def test_bad_values_are_refused_by_count_never_quoted() -> None:
    rows = [{"subject_id": uuid.UUID(int=i), "age": "13800138000" if i == 3 else 30}
            for i in range(3)] + [{"subject_id": uuid.UUID(int=9), "age": "张三"}]
    with pytest.raises(SpecRefused) as info:
        build_dataset(rows, DatasetSpec((AgeQI("age"),), k=2), PSEUDO)
    assert info.value.field == "age" and "1 value(s)" in str(info.value)
    assert "张三" not in str(info.value)


def test_a_column_missing_from_the_rows_is_named() -> None:
    rows = [{"subject_id": uuid.UUID(int=i), "age": 30} for i in range(5)]
    with pytest.raises(SpecRefused) as info:
        build_dataset(rows, DatasetSpec((AgeQI("age"), CategoryQI("gender")), k=2), PSEUDO)
    assert info.value.field == "gender" and info.value.rule == "deid.missing_column"


def test_unreachable_targets_say_why() -> None:
    rows = [{"subject_id": uuid.UUID(int=i), "age": 30, "cat": "a"} for i in range(4)]
    with pytest.raises(DeidError, match="only 4 rows"):
        build_dataset(rows, DatasetSpec((AgeQI("age"),), k=5), PSEUDO)
    rows = [{"subject_id": uuid.UUID(int=i), "age": 30, "cat": "a"} for i in range(10)]
    with pytest.raises(TargetUnreachable, match="only 1 distinct"):
        build_dataset(rows, DatasetSpec((AgeQI("age"),), k=5, sensitive="cat", l_diversity=2),
                      PSEUDO)


# ------------------------------------------------------------------------------- search


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "subject_id": [uuid.UUID(int=int(x)) for x in rng.integers(1, 2**62, n)],
        "age": rng.integers(18, 75, n),
        "gender": rng.choice(["male", "female"], n),
        "month": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
    })


def _lower(node: tuple[int, ...], i: int) -> tuple[int, ...]:
    return (*node[:i], node[i] - 1, *node[i + 1:])


def _suppressed_at(frame: pd.DataFrame, spec: DatasetSpec, node: tuple[int, ...]) -> int:
    """Rows in classes below k when the input is generalised to ``node``, computed directly from
    the hierarchies with pandas (no lattice code)."""
    generalised = {}
    for qi, h in zip(spec.quasi_identifiers, node, strict=True):
        base = frame[qi.column].dt.strftime("%Y-%m") if isinstance(qi, DateQI) else frame[qi.column]
        distinct = list(pd.unique(base))
        mapping = dict(zip(distinct, level_labels(qi, distinct)[h], strict=True))
        generalised[qi.column] = base.map(mapping)
    table = pd.DataFrame(generalised)
    sizes = table.groupby(list(generalised))[next(iter(generalised))].transform("size")
    return int((sizes < spec.k).sum())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_chosen_generalisation_is_minimal(seed: int) -> None:
    """Lowering any one column by one level would need more suppression than allowed; and the
    chosen node itself is within the budget."""
    frame = _frame(3000, seed)
    spec = DatasetSpec((AgeQI("age"), CategoryQI("gender"), DateQI("month")), k=10,
                       max_suppression=0.02)
    _, report = build_dataset(frame, spec, PSEUDO)
    node = tuple(report.level_heights[q.column] for q in spec.quasi_identifiers)
    budget = int(spec.max_suppression * len(frame))
    assert _suppressed_at(frame, spec, node) == report.suppressed <= budget
    for i in range(len(node)):
        if node[i] > 0:
            assert _suppressed_at(frame, spec, _lower(node, i)) > budget, (node, i)


def test_no_generalisation_when_the_data_is_already_k_anonymous() -> None:
    rows = [{"subject_id": uuid.UUID(int=i), "age": 30 + i % 3, "gender": "female"}
            for i in range(30)]
    out, report = build_dataset(rows, DatasetSpec((AgeQI("age"), CategoryQI("gender")), k=10),
                                PSEUDO)
    assert report.level_heights == {"age": 0, "gender": 0}
    assert report.information_loss == 0.0 and report.suppressed == 0
    assert report.k_achieved == 10 and len(out) == 30


def test_outliers_are_suppressed_within_the_budget_instead_of_generalising_everyone() -> None:
    rows = [{"subject_id": uuid.UUID(int=i), "age": 30, "gender": "female"} for i in range(97)]
    rows += [{"subject_id": uuid.UUID(int=1000 + i), "age": 90 + i, "gender": "male"}
             for i in range(3)]
    spec = DatasetSpec((AgeQI("age"), CategoryQI("gender")), k=5, max_suppression=0.05)
    out, report = build_dataset(rows, spec, PSEUDO)
    assert report.suppressed == 3 and report.suppression_rate == pytest.approx(0.03)
    assert report.level_heights == {"age": 0, "gender": 0}
    assert len(out) == 97 and set(out["age"].astype(str)) == {"30"}
    # With no suppression allowed, the same data must be generalised instead.
    strict = DatasetSpec((AgeQI("age"), CategoryQI("gender")), k=5, max_suppression=0.0)
    out, report = build_dataset(rows, strict, PSEUDO)
    assert report.suppressed == 0 and len(out) == 100
    assert report.information_loss > 0 and report.k_achieved >= 5


def test_the_report_measures_loss_and_discernibility_as_documented() -> None:
    combos = list(itertools.product([31, 33, 36, 38], ["male", "female"])) * 2
    # 16 rows, 8 combinations of 2 rows each
    rows = [{"subject_id": uuid.UUID(int=i), "age": a, "gender": g}
            for i, (a, g) in enumerate(combos)]
    spec = DatasetSpec((AgeQI("age"), CategoryQI("gender")), k=4, max_suppression=0.0)
    _out, report = build_dataset(rows, spec, PSEUDO)
    # Least generalisation: ages to 5-year bands (30-34, 35-39) -> classes of 4 rows.
    assert report.level_heights == {"age": 1, "gender": 0}
    assert report.k_achieved == 4 and report.rows_out == 16
    # NCP: an age band covers 2 of the 4 observed ages -> (2-1)/(4-1); gender exact -> 0.
    assert report.information_loss == pytest.approx(((2 - 1) / (4 - 1) + 0) / 2)
    assert report.discernibility == 4 * 4**2
    assert report.levels == {"age": "5-year bands", "gender": "value"}
    assert report.lattice_size == 5 * 2


def test_missing_values_are_a_value_of_their_own_until_the_top_level() -> None:
    rows = [{"subject_id": uuid.UUID(int=i), "age": None if i % 4 == 0 else 40 + i % 3,
             "gender": None if i % 5 == 0 else "female"} for i in range(60)]
    out, report = build_dataset(rows, DatasetSpec((AgeQI("age"), CategoryQI("gender")), k=3),
                                PSEUDO)
    assert "(missing)" in set(out["age"].astype(str)) | set(out["gender"].astype(str))
    assert out.groupby(["age", "gender"], observed=True).size().min() >= 3
    assert report.rows_out + report.suppressed == 60


def test_two_rows_of_one_person_are_refused_because_k_counts_rows() -> None:
    rows = [{"subject_id": uuid.UUID(int=i % 8), "age": 30} for i in range(10)]
    with pytest.raises(SpecRefused) as info:
        build_dataset(rows, DatasetSpec((AgeQI("age"),), k=5), PSEUDO)
    assert info.value.field == "subject_id" and info.value.rule == "deid.one_row_per_subject"
    assert "2 row(s)" in str(info.value)
    # Also when the dataset carries no pseudonym column.
    with pytest.raises(SpecRefused, match="repeat a subject"):
        build_dataset(rows, DatasetSpec((AgeQI("age"),), k=5, pseudonym_column=None), None)
