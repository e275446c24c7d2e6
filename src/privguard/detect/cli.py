"""``privguard scan``: find or redact PI in a .txt, .csv or .jsonl file, streaming.

The contract (others build on it; keep it stable):

* ``privguard scan FILE [OUTPUT]``: FILE is ``.txt`` (one text per line), ``.csv`` (the text in
  ``--column NAME``) or ``.jsonl`` (the text in ``--text-field NAME``, default ``text``); ``-``
  reads standard input as .txt (or as ``--input-format``). Output goes to OUTPUT, or to
  standard output.
* Default (``--format jsonl``): one line per input line, the input object (a .txt line becomes
  ``{"text": …}``, a CSV row an object of its columns) with a ``findings`` list of
  ``{"entity_type", "start", "end", "score"}``; ``start``/``end`` are Python string indices
  (code points) into the text.
* ``--redact``: the input written back in its own format with the text redacted (``--operator``
  replace, mask or hash; tokenising needs the vault and is in the HTTP API). With ``--redact
  --format jsonl`` the object holds the redacted text and the findings of the original.
* A progress bar and, at the end, a summary table (counts per entity type, lines, characters,
  characters per second) go to standard error.
* Input and output are streamed line by line: memory stays flat whatever the file size.
* ``--engine spark INPUT OUTPUT`` runs the same recognizers as a PySpark job (detect/spark.py).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from privguard.detect.operators import Operator, operator_by_name, redact_with
from privguard.detect.registry import build_detector

err = Console(stderr=True)


class InputFormat(StrEnum):
    TXT = "txt"
    CSV = "csv"
    JSONL = "jsonl"


class OutputFormat(StrEnum):
    JSONL = "jsonl"
    SAME = "same"  # the input's own format (what --redact writes by default)


class Engine(StrEnum):
    LOCAL = "local"
    SPARK = "spark"


class OperatorChoice(StrEnum):
    REPLACE = "replace"
    MASK = "mask"
    HASH = "hash"


def input_format(path: Path, given: InputFormat | None) -> InputFormat:
    if given is not None:
        return given
    suffix = path.suffix.lower().lstrip(".")
    if str(path) == "-" or suffix in ("txt", "log", ""):
        return InputFormat.TXT
    if suffix in ("csv", "jsonl", "ndjson"):
        return InputFormat.JSONL if suffix == "ndjson" else InputFormat(suffix)
    raise typer.BadParameter(
        f"cannot tell the format of {path.name}: use .txt, .csv or .jsonl, or --input-format",
        param_hint="FILE",
    )


def _records(
    fmt: InputFormat, fh: IO[str], column: str | None, text_field: str
) -> Iterator[tuple[dict[str, Any], str, str, int]]:
    """(record, field holding the text, text, bytes read) for each input line."""
    if fmt is InputFormat.TXT:
        for line in fh:
            text = line.rstrip("\r\n")
            yield {"text": text}, "text", text, len(line.encode())
    elif fmt is InputFormat.JSONL:
        for number, line in enumerate(fh, 1):
            size = len(line.encode())
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"line {number} is not JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise typer.BadParameter(f"line {number} is not a JSON object")
            value = record.get(text_field)
            text = value if isinstance(value, str) else ("" if value is None else str(value))
            yield record, text_field, text, size
    else:
        if column is None:
            raise typer.BadParameter("a .csv input needs --column NAME", param_hint="--column")
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise typer.BadParameter(
                f"no column {column!r}; the file has: {', '.join(reader.fieldnames or [])}",
                param_hint="--column",
            )
        for row in reader:
            # The reader reads ahead, so the file position says little: the row's own size
            # (an estimate that ignores quoting) drives the progress bar.
            size = sum(len(v.encode()) + 1 for v in row.values() if isinstance(v, str))
            yield dict(row), column, row.get(column) or "", size


def _digester() -> Any:
    """The keyring's blind-index construction (keyed hash): needs the configured keyring."""
    from privguard.bootstrap import build_keys
    from privguard.config import load_settings
    from privguard.crypto.blind_index import BlindIndexer

    return BlindIndexer(build_keys(load_settings()).blind_index_root())


def scan_command(
    file: Annotated[Path, typer.Argument(help=".txt, .csv or .jsonl file ('-' for stdin).")],
    output: Annotated[
        Path | None, typer.Argument(help="Where to write (default: standard output).")
    ] = None,
    column: Annotated[str | None, typer.Option(help="CSV column holding the text.")] = None,
    text_field: Annotated[str, typer.Option(help="JSONL field holding the text.")] = "text",
    fmt: Annotated[
        OutputFormat | None,
        typer.Option("--format", help="jsonl: input object + findings (default); "
                     "same: the input's own format (default with --redact)."),
    ] = None,
    redact: Annotated[bool, typer.Option("--redact", help="Write redacted text.")] = False,
    operator: Annotated[
        OperatorChoice, typer.Option(help="With --redact: replace (<TYPE>), mask, hash.")
    ] = OperatorChoice.REPLACE,
    keep_suffix: Annotated[int, typer.Option(help="With --operator mask.", min=0)] = 4,
    lang: Annotated[str | None, typer.Option(help="zh or en (default: both).")] = None,
    entities: Annotated[
        list[str] | None, typer.Option("--entity", help="Only this type (repeatable).")
    ] = None,
    input_fmt: Annotated[
        InputFormat | None, typer.Option("--input-format", help="Override the file suffix.")
    ] = None,
    engine: Annotated[Engine, typer.Option(help="local (streaming) or spark.")] = Engine.LOCAL,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Find (or with --redact, remove) personal information in free text."""
    if lang not in (None, "zh", "en"):
        raise typer.BadParameter("use zh or en", param_hint="--lang")
    in_fmt = input_format(file, input_fmt)
    out_fmt = fmt or (OutputFormat.SAME if redact else OutputFormat.JSONL)
    if engine is Engine.SPARK:
        if output is None:
            raise typer.BadParameter("the spark engine needs an OUTPUT path", param_hint="OUTPUT")
        from privguard.detect.spark import run_scan_job

        stats = run_scan_job(
            str(file), str(output), input_format=in_fmt.value, column=column,
            text_field=text_field, redact=redact, operator=operator.value,
            keep_suffix=keep_suffix, lang=lang, entities=entities,
        )
        _summary(Counter(stats.get("entities", {})), int(stats.get("rows", 0)), 0, 0.0)
        return
    op: Operator | None = None
    if redact:
        op = operator_by_name(
            operator.value, keep_suffix=keep_suffix,
            digester=_digester() if operator is OperatorChoice.HASH else None,
        )
    detector = build_detector()
    detector.scan("收货人张伟")  # loads jieba's dictionary before the clock starts
    counts: Counter[str] = Counter()
    lines = chars = 0
    started = time.perf_counter()
    with ExitStack() as stack:
        if str(file) == "-":
            fh: IO[str] = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
            total = None
        else:
            if not file.is_file():
                raise typer.BadParameter(f"{file} does not exist", param_hint="FILE")
            fh = stack.enter_context(file.open(encoding="utf-8-sig", newline=""))
            total = file.stat().st_size
        out: IO[str] = (
            stack.enter_context(output.open("w", encoding="utf-8", newline=""))
            if output is not None
            else io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="",
                                  write_through=False)
        )
        bar = stack.enter_context(
            Progress(
                TextColumn("scanning"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                TimeElapsedColumn(), console=err, transient=True, disable=not progress,
            )
        )
        task = bar.add_task("scan", total=total)
        writer: Any = None
        pending = 0
        for record, key, text, size in _records(in_fmt, fh, column, text_field):
            findings = detector.scan(text, lang, entities=entities)
            lines += 1
            chars += len(text)
            counts.update(f.entity_type for f in findings)
            shown = redact_with(text, findings, op) if op is not None else text
            if out_fmt is OutputFormat.JSONL:
                record = {**record, key: shown} if op is not None else dict(record)
                record["findings"] = [f.as_dict() for f in findings]
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            elif in_fmt is InputFormat.TXT:
                out.write(shown + "\n")
            elif in_fmt is InputFormat.JSONL:
                out.write(json.dumps({**record, key: shown}, ensure_ascii=False) + "\n")
            else:
                if writer is None:
                    writer = csv.DictWriter(out, fieldnames=list(record), lineterminator="\n")
                    writer.writeheader()
                writer.writerow({**record, key: shown})
            pending += size
            if lines % 256 == 0:
                bar.update(task, advance=pending)
                pending = 0
        bar.update(task, advance=pending)
        out.flush()
        if output is None:
            out.detach()  # leave sys.stdout open for typer
    _summary(counts, lines, chars, time.perf_counter() - started)


def _summary(counts: Counter[str], lines: int, chars: int, seconds: float) -> None:
    table = Table(title="personal information found", title_justify="left")
    table.add_column("entity type")
    table.add_column("findings", justify="right")
    for etype, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(etype, f"{n:,}")
    table.add_row("[bold]total[/]", f"[bold]{sum(counts.values()):,}[/]")
    err.print(table)
    rate = f", {chars / seconds:,.0f} characters/s" if seconds > 0 else ""
    err.print(f"{lines:,} lines, {chars:,} characters{rate}")
