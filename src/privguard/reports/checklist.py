"""The requirement checklist (checklist.yaml): each requirement, the feature that meets it and
the tests that prove it; and running those tests to show what passes today.

The tests live in the source tree, not in the installed package, so running them needs a
checkout (``--root``); listing the checklist does not. Tests run in a separate pytest process
(``-q -p no:cacheprovider``, only the named node ids) and their outcomes are read from its JUnit
XML report, not from its console output.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from privguard.yaml_files import parse_yaml

LAWS = ("PIPL", "GB/T 35273-2020", "GB/T 41833-2022", "E-Commerce Law", "CRPL", "CSL", "GDPR",
        "CCPA")
PASSED, FAILED, SKIPPED = "pass", "fail", "skipped"


class ChecklistError(ValueError):
    """The checklist file is invalid; the message names the entry."""


@dataclass(frozen=True)
class Requirement:
    law: str
    item: str
    requirement: str
    feature: str
    docs: tuple[str, ...]
    tests: tuple[str, ...]
    gaps: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.law, self.item)


def parse_checklist(text: str) -> list[Requirement]:
    doc = parse_yaml(text)
    if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(
        doc.get("requirements"), list
    ):
        raise ChecklistError("checklist: expected version 1 and a list of requirements")
    out: list[Requirement] = []
    seen: set[tuple[str, str]] = set()
    for n, raw in enumerate(doc["requirements"]):
        where = f"checklist requirements[{n}]"
        if not isinstance(raw, dict):
            raise ChecklistError(f"{where}: must be a mapping")
        unknown = set(raw) - {"law", "item", "requirement", "feature", "docs", "tests", "gaps"}
        if unknown:
            raise ChecklistError(f"{where}: unknown keys {sorted(unknown)}")
        if raw.get("law") not in LAWS:
            raise ChecklistError(f"{where}: law must be one of {', '.join(LAWS)}")
        for key in ("item", "requirement", "feature"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise ChecklistError(f"{where}: {key} is required text")
        tests = raw.get("tests") or []
        if not isinstance(tests, list) or not all(
            isinstance(t, str) and t.startswith("tests/") and "::" in t for t in tests
        ):
            raise ChecklistError(f"{where}: tests must be pytest node ids (tests/...::name)")
        req = Requirement(
            law=raw["law"], item=str(raw["item"]), requirement=raw["requirement"].strip(),
            feature=raw["feature"].strip(), docs=tuple(raw.get("docs") or ()),
            tests=tuple(tests), gaps=(raw.get("gaps") or None),
        )
        if req.key in seen:
            raise ChecklistError(f"{where}: {req.law} {req.item} is listed twice")
        seen.add(req.key)
        out.append(req)
    return out


@cache
def shipped_checklist() -> tuple[Requirement, ...]:
    text = resources.files("privguard.reports").joinpath("checklist.yaml").read_text("utf-8")
    return tuple(parse_checklist(text))


def status(req: Requirement, results: Mapping[str, str] | None) -> str:
    """open (no test), covered (tests named, not run), or pass / fail / skipped from the run:
    any failure fails it; it passes when every test ran and passed."""
    if not req.tests:
        return "open"
    if results is None:
        return "covered"
    outcomes = [results.get(t, FAILED) for t in req.tests]
    if FAILED in outcomes:
        return FAILED
    if all(o == SKIPPED for o in outcomes):
        return SKIPPED
    return PASSED


# ------------------------------------------------------------------------------ the tests
def source_root() -> Path | None:
    """The checkout this privguard runs from (src layout), if its tests are there."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "tests").is_dir() else None


def defined_tests(path: Path) -> set[str]:
    """Test names a file defines: ``name`` and ``Class::name`` (static, nothing imported)."""
    tree = ast.parse(path.read_text("utf-8"))
    out: set[str] = set()

    def walk(body: Iterable[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}::")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.add(prefix + node.name)

    walk(tree.body, "")
    return out


def missing_tests(root: Path, node_ids: Iterable[str]) -> list[str]:
    """The node ids whose file or test function does not exist (parametrised ids are checked
    by their function name)."""
    files: dict[str, set[str]] = {}
    out = []
    for node in node_ids:
        path, _, name = node.partition("::")
        name = name.split("[", 1)[0]
        if path not in files:
            file = root / path
            files[path] = defined_tests(file) if file.is_file() else set()
        if name not in files[path]:
            out.append(node)
    return out


def run_tests(
    root: Path, node_ids: Sequence[str], *, timeout: float = 3600,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Run exactly these tests in a separate pytest process; outcome per node id (a node id
    of a parametrised test fails if any of its cases fails).

    The process gets none of this deployment's PRIVGUARD_* settings: the tests make their own
    stores, and must not be pointed at a real database by accident. ``env`` adds variables
    (PRIVGUARD_DATABASE_URL to run the integration tests on a PostgreSQL server)."""
    wanted = sorted(set(node_ids))
    # pytest runs nothing at all when one named test does not exist: those fail here instead.
    gone = set(missing_tests(root, wanted))
    ids = [n for n in wanted if n not in gone]
    if not ids:
        return dict.fromkeys(wanted, FAILED)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"--junitxml={report}", "-o", "junit_family=xunit1", *ids],
            cwd=root, env={**_clean(os.environ), **(env or {})}, capture_output=True,
            timeout=timeout,
            check=False,
        )
        cases = _cases(report) if report.exists() else {}
    out = dict.fromkeys(gone, FAILED)
    for node in ids:
        found = [o for key, o in cases.items() if _matches(key, node)]
        if not found:
            out[node] = FAILED  # not collected: it no longer exists, or its file errors
        elif FAILED in found:
            out[node] = FAILED
        elif all(o == SKIPPED for o in found):
            out[node] = SKIPPED
        else:
            out[node] = PASSED
    return out


def _clean(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith("PRIVGUARD_")}


def _matches(case: str, node: str) -> bool:
    return case == node or case.startswith(node + "[")


def _cases(report: Path) -> dict[str, str]:
    """node id -> outcome, from a JUnit XML report (classname a.b.test_x[.Class], name)."""
    out: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        file = case.get("file")
        parts = classname.split(".")
        # The module is the longest prefix of classname that is a file under tests/.
        path, rest = _module(parts, file)
        node = "::".join([path, *rest, name])
        if case.find("failure") is not None or case.find("error") is not None:
            out[node] = FAILED
        elif case.find("skipped") is not None:
            out.setdefault(node, SKIPPED)
        else:
            out.setdefault(node, PASSED)
    return out


def _module(parts: list[str], file: str | None) -> tuple[str, list[str]]:
    if file:
        depth = len(Path(file).with_suffix("").parts)
        return file, parts[depth:]
    for n in range(len(parts), 0, -1):
        if parts[n - 1].startswith("test_"):
            return "/".join(parts[:n]) + ".py", parts[n:]
    return "/".join(parts) + ".py", []


def rows(
    requirements: Sequence[Requirement], results: Mapping[str, str] | None
) -> list[dict[str, Any]]:
    return [
        {"law": r.law, "item": r.item, "requirement": r.requirement, "feature": r.feature,
         "docs": list(r.docs), "tests": list(r.tests), "gaps": r.gaps,
         "status": status(r, results),
         "results": {t: results.get(t, FAILED) for t in r.tests} if results is not None
         else None}
        for r in requirements
    ]
