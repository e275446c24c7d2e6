"""``privguard scan --engine spark INPUT OUTPUT``: the same recognizers as a PySpark job.

For platforms holding years of chats: Spark reads Parquet, CSV (with a header) or JSON lines
(or plain text, one text per line), splits them into partitions across the cluster, and each
executor runs the single-process detector (:func:`privguard.detect.default_detector`, built
once per Python worker) over Arrow batches with ``mapInPandas``. The findings are exactly the
ones ``privguard scan`` gives for the same text, because it is the same code.

Output keeps every input column and adds ``findings`` (an array of ``{entity_type, start, end,
score}``; in CSV output a JSON string, as CSV has no arrays), or with ``redact`` replaces the
text column with its redacted form. It is written in the input's format (text input is written
as JSON lines), one file per partition.

Needs the ``spark`` extra (``pip install 'privguard[spark]'``: pyspark, pandas, pyarrow) and a
Java runtime; on a cluster, privguard must be installed on every executor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

FINDING_DDL = "array<struct<entity_type:string,start:int,end:int,score:double>>"


class SparkUnavailable(RuntimeError):
    pass


def _require_pyspark() -> None:
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailable(
            f"the spark engine needs {exc.name}: pip install 'privguard[spark]'"
        ) from None


def session(master: str | None = None) -> SparkSession:
    """The active Spark session, or a new one (``master`` for local runs, e.g. local[2])."""
    _require_pyspark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("privguard-scan")
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


def read(spark: SparkSession, path: str, fmt: str) -> DataFrame:
    if fmt == "parquet":
        return spark.read.parquet(path)
    if fmt == "csv":
        return (
            spark.read.option("header", True).option("multiLine", True).option("escape", '"')
            .csv(path)
        )
    if fmt == "jsonl":
        return spark.read.json(path)
    if fmt == "txt":
        return spark.read.text(path).withColumnRenamed("value", "text")
    raise ValueError(f"unknown input format {fmt!r}: use parquet, csv, jsonl or txt")


def _scan_batches(
    batches: Iterator[pd.DataFrame],
    text_col: str,
    redact: bool,
    operator: str,
    keep_suffix: int,
    lang: str | None,
    entities: Sequence[str] | None,
    findings_as_json: bool,
) -> Iterator[pd.DataFrame]:
    """Runs on the executors: the single-process detector over each Arrow batch."""
    from privguard.detect import default_detector
    from privguard.detect.operators import operator_by_name, redact_with

    detector = default_detector()
    op = None
    if redact:
        digester = None
        if operator == "hash":
            from privguard.detect.cli import _digester

            digester = _digester()
        op = operator_by_name(operator, keep_suffix=keep_suffix, digester=digester)
    for batch in batches:
        texts = batch[text_col].tolist()
        found = []
        shown = []
        for text in texts:
            value = text if isinstance(text, str) else ""
            findings = detector.scan(value, lang, entities=entities)
            rows = [f.as_dict() for f in findings]
            found.append(json.dumps(rows) if findings_as_json else rows)
            if op is not None:
                shown.append(redact_with(value, findings, op) if isinstance(text, str) else text)
        batch = batch.copy()
        if op is not None:
            batch[text_col] = shown
        batch["findings"] = found
        yield batch


def scan_dataframe(
    df: DataFrame,
    text_col: str,
    *,
    redact: bool = False,
    operator: str = "replace",
    keep_suffix: int = 4,
    lang: str | None = None,
    entities: Sequence[str] | None = None,
    findings_as_json: bool = False,
) -> DataFrame:
    """``df`` with a ``findings`` column (and the text redacted with ``redact``)."""
    from pyspark.sql.types import StringType, StructField, StructType, _parse_datatype_string

    if text_col not in df.columns:
        raise ValueError(f"no column {text_col!r}; the input has: {', '.join(df.columns)}")
    findings_type = StringType() if findings_as_json else _parse_datatype_string(FINDING_DDL)
    fields = [f for f in df.schema.fields if f.name != "findings"]
    if redact:
        fields = [StructField(f.name, StringType(), True) if f.name == text_col else f
                  for f in fields]
    schema = StructType([*fields, StructField("findings", findings_type, False)])
    args = (text_col, redact, operator, keep_suffix, lang, entities, findings_as_json)
    return df.mapInPandas(lambda it: _scan_batches(it, *args), schema)


def run_scan_job(
    input_path: str,
    output_path: str,
    *,
    input_format: str,
    column: str | None = None,
    text_field: str = "text",
    redact: bool = False,
    operator: str = "replace",
    keep_suffix: int = 4,
    lang: str | None = None,
    entities: Sequence[str] | None = None,
    spark: SparkSession | None = None,
) -> dict[str, Any]:
    """Read, scan, write; returns ``{"rows": n, "entities": {type: count}}``."""
    spark = spark or session()
    fmt = "parquet" if input_path.rstrip("/").endswith(".parquet") else input_format
    from pyspark.sql import functions as F

    df = read(spark, input_path, fmt)
    text_col = column if fmt == "csv" else ("text" if fmt == "txt" else text_field)
    if text_col is None:
        raise ValueError("a CSV input needs --column NAME")
    as_json = fmt == "csv"
    scanned = scan_dataframe(
        df, text_col, redact=redact, operator=operator, keep_suffix=keep_suffix, lang=lang,
        entities=entities, findings_as_json=as_json,
    ).cache()
    try:
        types = F.from_json("findings", FINDING_DDL) if as_json else F.col("findings")
        counts = {
            r["entity_type"]: r["count"]
            for r in scanned.select(F.explode(types).alias("f"))
            .groupBy(F.col("f.entity_type").alias("entity_type"))
            .count()
            .collect()
        }
        rows = scanned.count()
        writer = scanned.write.mode("overwrite")
        if fmt == "parquet":
            writer.parquet(output_path)
        elif fmt == "csv":
            # RFC 4180 quoting (doubled quotes), as Python, Excel and pandas read it
            writer.option("header", True).option("escape", '"').csv(output_path)
        else:
            writer.json(output_path)
    finally:
        scanned.unpersist()
    return {"rows": rows, "entities": counts}
