"""The Spark job finds exactly what the single-process scanner finds (issue 7, "Must show").

Runs Spark in local mode (``local[1]``, one session for the module, a few hundred rows of the
labelled corpus plus the hand-written tricky lines). Skipped, with the reason, where pyspark or
a Java runtime is missing; CI installs pyspark through the ``test`` extra.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from privguard.detect import redact, scan

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install "
                              "'privguard[spark]'); the Spark equivalence test needs it")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (part of privguard[spark])")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17+", allow_module_level=True)

from privguard.detect.spark import run_scan_job, session  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "data" / "detect" / "corpus.jsonl"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    s = session("local[1]")
    s.sparkContext.setLogLevel("ERROR")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    picked = lines[:260] + [x for x in lines if '"kind": "tricky"' in x]
    return [json.loads(x) for x in picked]


def _read_json(path: Path) -> list[dict[str, Any]]:
    out = []
    for part in sorted(path.glob("part-*.json")):
        out += [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
    return out


def test_spark_and_single_process_findings_are_identical(
    spark: Any, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    stats = run_scan_job(str(src), str(tmp_path / "out"), input_format="jsonl", spark=spark)
    got = {r["id"]: r for r in _read_json(tmp_path / "out")}
    assert len(got) == len(rows) == stats["rows"]
    expected_total = 0
    for r in rows:
        expected = [f.as_dict() for f in scan(r["text"])]
        expected_total += len(expected)
        assert got[r["id"]]["findings"] == expected, r["text"]
        assert got[r["id"]]["text"] == r["text"]  # the other columns come through unchanged
    assert sum(stats["entities"].values()) == expected_total > 300


def test_spark_redacts_a_csv_column_like_the_scanner(
    spark: Any, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    import csv

    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "message"])
        w.writerows([[r["id"], r["text"]] for r in rows[:80]])
    run_scan_job(str(src), str(tmp_path / "out"), input_format="csv", column="message",
                 redact=True, spark=spark)
    got = {}
    for part in sorted((tmp_path / "out").glob("part-*.csv")):
        with part.open(encoding="utf-8", newline="") as fh:
            got.update({r["id"]: r for r in csv.DictReader(fh)})
    for r in rows[:80]:
        assert got[r["id"]]["message"] == redact(r["text"])
        assert json.loads(got[r["id"]]["findings"]) == [f.as_dict() for f in scan(r["text"])]
