"""The requirement checklist (reports/checklist.yaml) against the design document: every
requirement it lists is in the checklist, and every test the checklist names exists.

The design document lives beside the repository (../shared/design.md) or where
PRIVGUARD_DESIGN_MD points; its list is parsed here, independently of privguard's code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from privguard.reports import checklist as C

ROOT = Path(__file__).resolve().parents[2]
# The law names as the design document writes them -> the checklist's short names.
LAWS = {
    "PIPL": "PIPL",
    "GB/T 35273-2020": "GB/T 35273-2020",
    "GB/T 41833-2022": "GB/T 41833-2022",
    "E-Commerce Law": "E-Commerce Law",
    "Consumer Rights Protection Law": "CRPL",
    "Cybersecurity Law": "CSL",
    "GDPR": "GDPR",
    "CCPA": "CCPA",
}


def _design() -> str:
    path = Path(os.environ.get("PRIVGUARD_DESIGN_MD") or ROOT.parent / "shared" / "design.md")
    if not path.is_file():
        pytest.skip(f"the design document is not at {path} (set PRIVGUARD_DESIGN_MD)")
    return path.read_text("utf-8")


def _split(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in [*parts, current] if p.strip()]


def _articles(numbers: str) -> list[str]:
    out = []
    for part in numbers.split("/"):
        if "-" in part:
            first, last = part.split("-")
            out += [str(n) for n in range(int(first), int(last) + 1)]
        else:
            out.append(part)
    return out


def design_requirements(text: str) -> set[tuple[str, str]]:
    """(law, item) for every requirement of the "Requirements it answers" list: articles
    (ranges like 13-17 and lists like 23/25/29 expanded), GB/T 35273 clause numbers, and for
    the rest the comma-separated rules (parenthesised examples dropped)."""
    section = text.split("## Requirements it answers", 1)[1].split("\n## ", 1)[0]
    bullets: list[list[str]] = []
    for line in section.splitlines():
        if line.startswith("- "):
            bullets.append([line[2:]])
        elif line.startswith("  ") and bullets:
            bullets[-1].append(line.strip())
    found: set[tuple[str, str]] = set()
    for bullet in bullets:
        for segment in _split(" ".join(bullet), ";"):
            law = next(k for k in sorted(LAWS, key=len, reverse=True) if segment.startswith(k))
            rest = segment[len(law):].strip()
            rest = re.sub(r"^[a-z ]+: ", "", rest.lstrip(":").strip())  # "express waybills: "
            if "Art." in rest:
                for m in re.finditer(r"Art\. (\d+(?:[-/]\d+)*)(\(\d+\))?", rest):
                    found |= {(LAWS[law], f"Art. {n}{m.group(2) or ''}")
                              for n in _articles(m.group(1))}
            elif law == "GB/T 35273-2020":
                found |= {(LAWS[law], m.group(1))
                          for m in re.finditer(r"(?:^|, )(\d+(?:\.\d+)?) ", rest)}
            else:
                for item in _split(rest.rstrip("."), ","):
                    item = re.sub(r"\s*\([^)]*\)", "", item).replace("`", "").strip()
                    found.add((LAWS[law], item))
    return found


def test_the_parser_reads_the_shapes_the_design_document_uses() -> None:
    sample = (
        "## Requirements it answers (cite these)\n"
        "- PIPL Art. 13-15 consent (informed; explicit), Art. 23/25 separate consent.\n"
        "- GB/T 35273-2020: 5.2 minimum necessary, 10 incidents, 11.3 records.\n"
        "- GB/T 41833-2022 express waybills: name hidden, phone hidden (so `***1234`), no room.\n"
        "- GDPR Art. 12(3) one month; CCPA 45 days, `Sec-GPC: 1` as opt-out.\n"
        "Not a bullet: PIPL Art. 99.\n"
    )
    assert design_requirements(sample) == {
        ("PIPL", "Art. 13"), ("PIPL", "Art. 14"), ("PIPL", "Art. 15"), ("PIPL", "Art. 23"),
        ("PIPL", "Art. 25"), ("GB/T 35273-2020", "5.2"), ("GB/T 35273-2020", "10"),
        ("GB/T 35273-2020", "11.3"), ("GB/T 41833-2022", "name hidden"),
        ("GB/T 41833-2022", "phone hidden"), ("GB/T 41833-2022", "no room"),
        ("GDPR", "Art. 12(3)"), ("CCPA", "45 days"), ("CCPA", "Sec-GPC: 1 as opt-out"),
    }


def test_the_checklist_lists_every_requirement_in_design_md() -> None:
    wanted = design_requirements(_design())
    assert len(wanted) > 40  # the parser found the list, not a fragment of it
    listed = {r.key for r in C.shipped_checklist()}
    assert sorted(wanted - listed) == [], "requirements of design.md missing from the checklist"
    assert sorted(listed - wanted) == [], "checklist entries design.md does not list"


def test_every_test_the_checklist_names_exists() -> None:
    named = [t for r in C.shipped_checklist() for t in r.tests]
    assert named
    assert C.missing_tests(ROOT, named) == []


def test_missing_tests_are_found_by_file_class_and_name() -> None:
    assert C.missing_tests(ROOT, [
        "tests/unit/test_checklist.py::test_every_test_the_checklist_names_exists",
        "tests/unit/test_policy_rules.py::TestCourier::test_only_for_delivery",
        "tests/unit/test_consent_rules.py::test_age_and_minority[birth0-today0-13]",
    ]) == []
    gone = ["tests/unit/test_checklist.py::test_nothing_of_the_sort",
            "tests/unit/test_policy_rules.py::test_only_for_delivery",  # it is in a class
            "tests/unit/test_no_such_file.py::test_x"]
    assert C.missing_tests(ROOT, gone) == gone


def test_a_requirement_without_tests_is_open_and_results_decide_the_rest() -> None:
    open_ = C.Requirement("PIPL", "Art. 57", "r", "f", (), ())
    two = C.Requirement("PIPL", "Art. 1", "r", "f", (), ("tests/a.py::t1", "tests/a.py::t2"))
    assert C.status(open_, None) == "open" and C.status(open_, {}) == "open"
    assert C.status(two, None) == "covered"
    assert C.status(two, {"tests/a.py::t1": "pass", "tests/a.py::t2": "pass"}) == "pass"
    assert C.status(two, {"tests/a.py::t1": "pass", "tests/a.py::t2": "fail"}) == "fail"
    assert C.status(two, {"tests/a.py::t1": "pass"}) == "fail"  # not run counts as failed
    assert C.status(two, {"tests/a.py::t1": "skipped", "tests/a.py::t2": "skipped"}) == "skipped"
    assert C.status(two, {"tests/a.py::t1": "skipped", "tests/a.py::t2": "pass"}) == "pass"
    shipped = {r.key: r for r in C.shipped_checklist()}
    assert C.status(shipped[("PIPL", "Art. 25")], None) == "open"


def test_a_malformed_checklist_is_refused_naming_the_entry() -> None:
    good = "version: 1\nrequirements:\n  - {law: PIPL, item: Art. 1, requirement: r, feature: f}\n"
    assert C.parse_checklist(good)[0].tests == ()
    with pytest.raises(C.ChecklistError, match=r"requirements\[0\]: law"):
        C.parse_checklist(good.replace("law: PIPL", "law: HIPAA"))
    with pytest.raises(C.ChecklistError, match="pytest node ids"):
        C.parse_checklist(good.replace("feature: f}", "feature: f, tests: [test_x]}"))
    with pytest.raises(C.ChecklistError, match="listed twice"):
        C.parse_checklist(good + "  - {law: PIPL, item: Art. 1, requirement: r, feature: f}\n")


SAMPLE_TESTS = """\
import pytest


def test_passes():
    assert True


def test_fails():
    assert False


def test_skipped():
    pytest.skip("not here")


@pytest.mark.parametrize("n", [1, 2])
def test_one_case_fails(n):
    assert n == 1


class TestGroup:
    def test_in_a_class(self):
        assert True
"""


def test_running_reads_each_named_tests_outcome(tmp_path: Path) -> None:
    """The runner, on a tree of its own: pass, fail, skip, a parametrised test with one bad
    case, a test in a class, and a test that does not exist (which must not stop the rest)."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sample.py").write_text(SAMPLE_TESTS)
    f = "tests/test_sample.py::"
    results = C.run_tests(tmp_path, [
        f + "test_passes", f + "test_fails", f + "test_skipped", f + "test_one_case_fails",
        f + "TestGroup::test_in_a_class", f + "test_gone",
    ], timeout=300)
    assert results == {
        f + "test_passes": "pass", f + "test_fails": "fail", f + "test_skipped": "skipped",
        f + "test_one_case_fails": "fail", f + "TestGroup::test_in_a_class": "pass",
        f + "test_gone": "fail",
    }
