"""``privguard scan``: the contract other tools build on (issue 7), through typer's runner."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privguard.cli import app
from privguard.crypto.keyring import Keyring
from privguard.detect import scan

runner = CliRunner()
LINES = [
    "收货人：张伟，电话13812345678",
    "订单号2024051312345678901已发货",
    "邮箱mei.li@example.cn，身份证11010519491231002X",
]


def run(*args: str) -> str:
    result = runner.invoke(app, ["scan", *args, "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_txt_to_jsonl_findings(tmp_path: Path) -> None:
    src = tmp_path / "chats.txt"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = [json.loads(line) for line in run(str(src)).splitlines()]
    assert [o["text"] for o in out] == LINES
    for o, text in zip(out, LINES, strict=True):
        assert o["findings"] == [f.as_dict() for f in scan(text)]
        assert set(o) == {"text", "findings"}
    assert [f["entity_type"] for f in out[0]["findings"]] == ["PERSON", "PHONE_NUMBER"]
    assert out[1]["findings"] == []


def test_jsonl_keeps_the_input_object_and_redacts_the_text_field(tmp_path: Path) -> None:
    src = tmp_path / "notes.jsonl"
    rows = [{"id": i, "note": t, "shop": "甲果园"} for i, t in enumerate(LINES)]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    out = [json.loads(x) for x in run(str(src), "--text-field", "note").splitlines()]
    assert [{k: v for k, v in o.items() if k != "findings"} for o in out] == rows
    redacted = [json.loads(x) for x in run(str(src), "--text-field", "note", "--redact")
                .splitlines()]
    assert redacted[0] == {
        "id": 0, "note": "收货人：<PERSON>，电话<PHONE_NUMBER>", "shop": "甲果园"
    }
    assert redacted[1]["note"] == LINES[1]


def test_csv_column_redacted_into_an_output_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "message"])
        w.writerows([[i, t] for i, t in enumerate(LINES)])
        w.writerow([9, "多行\n电话 138 1234 5678"])
    result = runner.invoke(
        app, ["scan", str(src), str(dst), "--column", "message", "--redact", "--operator",
              "mask", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(dst.open(encoding="utf-8", newline="")))
    assert [r["id"] for r in rows] == ["0", "1", "2", "9"]
    assert rows[0]["message"] == "收货人：*伟，电话*******5678"
    assert rows[3]["message"] == "多行\n电话 *********5678"
    # the summary goes to stderr, never into the data
    assert "PHONE_NUMBER" in result.stderr and "PHONE_NUMBER" not in dst.read_text("utf-8")


def test_csv_needs_an_existing_column(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,message\n1,hi\n", encoding="utf-8")
    result = runner.invoke(app, ["scan", str(src), "--column", "msg"])
    assert result.exit_code != 0
    assert "no column 'msg'" in result.output and "message" in result.output
    result = runner.invoke(app, ["scan", str(src)])
    assert result.exit_code != 0 and "--column" in result.output


def test_hash_uses_the_configured_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "a.txt"
    src.write_text("电话13812345678\n电话138 1234 5678\n", encoding="utf-8")
    monkeypatch.setenv("PRIVGUARD_KEY_PROVIDER", "env")
    monkeypatch.setenv("PRIVGUARD_KEYRING", Keyring.generate().to_json())
    first = run(str(src), "--redact", "--operator", "hash").splitlines()
    assert first[0] == first[1] and re.fullmatch(r"电话<PHONE_NUMBER:[0-9a-f]{16}>", first[0])
    monkeypatch.setenv("PRIVGUARD_KEYRING", Keyring.generate().to_json())
    assert run(str(src), "--redact", "--operator", "hash").splitlines()[0] != first[0]


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "a.xlsx"
    src.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["scan", str(src)])
    assert result.exit_code != 0 and "--input-format" in result.output
