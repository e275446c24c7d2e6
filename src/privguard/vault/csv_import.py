"""CSV import of subjects: validated row by row, each row all-or-nothing, a report of rejects.

Columns are catalog field names. Structured fields (addresses, location, histories) hold JSON in
their cell. The report names rows, fields and rules, never values: it is often mailed around.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.orm import Session, sessionmaker

from privguard.policy.rules import ActorRef
from privguard.store.uow import unit_of_work
from privguard.vault.errors import FieldError, InvalidPI, field_label
from privguard.vault.service import Vault

STRUCTURED_VALIDATORS = frozenset({"address", "address_list", "location", "records"})


class CsvHeaderError(ValueError):
    """The file's header is unusable; nothing was imported."""


@dataclass(frozen=True)
class RejectedRow:
    line: int
    errors: list[FieldError]


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    def write_rejects_csv(self, out: TextIO) -> None:
        writer = csv.writer(out)
        writer.writerow(["line", "field", "rule", "message"])
        for row in self.rejected:
            for err in row.errors:
                writer.writerow([row.line, err.field, err.rule, err.message])


def _row_to_pi(vault: Vault, cells: dict[str, str | None], now: datetime) -> dict[str, Any]:
    """Canonical values of one row, or InvalidPI with every problem of the row at once.

    Empty cells are absent fields; structured fields are parsed from JSON first.
    """
    pi: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, raw in cells.items():
        if raw is None or not raw.strip():
            continue
        if vault.catalog[name].validator in STRUCTURED_VALIDATORS:
            try:
                pi[name] = json.loads(raw)
            except json.JSONDecodeError:
                errors.append(FieldError(name, "csv.json", "must be JSON in this column"))
        else:
            pi[name] = raw
    if not pi and not errors:
        raise InvalidPI([FieldError("*", "row.empty", "the row has no values")])
    try:
        canonical = vault.validate(pi, today=now.date())
    except InvalidPI as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidPI(sorted(errors, key=lambda e: list(cells).index(e.field)))
    return canonical


def count_records(handle: TextIO) -> int:
    """Records (not lines: a quoted cell may span lines) after the header, for progress.

    It reads the whole file before anything is imported, so a file that cannot be read to its
    end (not UTF-8, a NUL byte, a cell over the csv module's field limit) is refused whole with
    :class:`CsvHeaderError` instead of failing half-way through the import.
    """
    reader = csv.reader(handle)
    try:
        records = sum(1 for _ in reader)
    except csv.Error as exc:  # the message names the problem, never the cell's content
        raise CsvHeaderError(
            f"line {reader.line_num + 1}: {exc}; nothing was imported"
        ) from None
    except UnicodeDecodeError:
        raise CsvHeaderError(
            f"the file is not UTF-8 (after line {reader.line_num}); nothing was imported"
        ) from None
    return max(records - 1, 0)


def read_rows(handle: TextIO, vault: Vault) -> Iterator[tuple[int, dict[str, str | None]]]:
    reader = csv.DictReader(handle)
    header = reader.fieldnames or []
    if not header:
        raise CsvHeaderError("the CSV file has no header row")
    unknown = [f"{n} ({field_label(h)})" for n, h in enumerate(header, 1) if h not in vault.catalog]
    if unknown:
        raise CsvHeaderError(
            f"the first row must name catalog fields; these columns do not: {', '.join(unknown)}"
            f"; known fields: {', '.join(vault.catalog.names())}"
        )
    if len(set(header)) != len(header):
        raise CsvHeaderError("a column appears twice in the header")
    for row in reader:
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            yield reader.line_num, {"__extra__": "x"}
            continue
        yield reader.line_num, row


def import_subjects(
    sessions: sessionmaker[Session],
    vault: Vault,
    actor: ActorRef,
    rows: Iterable[tuple[int, dict[str, str | None]]],
    *,
    now: datetime,
    batch_size: int = 500,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate each row; store the good ones in batches (one transaction per batch)."""
    report = ImportReport()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if not batch:
            return
        with unit_of_work(sessions) as session:
            vault.insert_validated(session, actor, batch, now=now)
        report.imported += len(batch)
        if on_progress:
            on_progress(len(batch))
        batch.clear()

    for line, cells in rows:
        if "__extra__" in cells:
            report.rejected.append(
                RejectedRow(line, [FieldError("*", "csv.columns", "more cells than columns")])
            )
            if on_progress:
                on_progress(1)
            continue
        try:
            batch.append(_row_to_pi(vault, cells, now))
        except InvalidPI as exc:
            report.rejected.append(RejectedRow(line, exc.errors))
            if on_progress:
                on_progress(1)
            continue
        if len(batch) >= batch_size:
            flush()
    flush()
    return report
