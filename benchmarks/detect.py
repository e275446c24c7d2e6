"""How well and how fast privguard finds personal information in free text, against Presidio.

Both run on the labelled corpus tests/data/detect/corpus.jsonl (regenerate it with
``python tests/data/detect/make_corpus.py``): customer-service chats, order notes, reviews,
logistics messages, English and mixed lines, hard negatives and hand-written tricky cases.

* **Quality.** Per entity type: precision, recall, F1. A finding matches a labelled span of the
  same type when their intersection over union is at least 0.5; each labelled span matches at
  most once. Plus two character-level figures that do not depend on types or boundaries:
  ``leak rate`` = labelled PI characters that no finding covers / all labelled PI characters, and
  ``over-redaction`` = other characters that some finding covers / all other characters.
* **Throughput.** Characters per second of ``Detector.scan`` (one detector, built before timing;
  jieba initialised in the warm-up). The corpus is cut into batches; each batch is timed for both
  sides one after the other, alternating which side goes first, so drift of a shared VM hits both.
  privguard scans each batch ``--repeats`` times per round (it is fast enough that one pass is
  too short to time well), Presidio once; rates are characters scanned / seconds.
* **Presidio** (``presidio-analyzer``, its predefined recognizers for ``en``, the ``no_op`` NLP
  engine, so no spaCy model is downloaded) is not a dependency of privguard. Install it only
  where you run this benchmark: ``pip install presidio-analyzer``. Without it, the Presidio
  columns are skipped with a message. Its types are mapped to ours where they mean the same
  thing (CREDIT_CARD -> BANK_CARD, US_PASSPORT -> PASSPORT, LOCATION -> ADDRESS); its other
  types (URL, DATE_TIME, US_BANK_NUMBER, UK_NHS…) count as false positives of their own type.

Goals (issue 7): leak rate <= 1 %, F1 >= 0.97 for phone, ID, card, e-mail and IP, >= 0.90 for
person and address, over-redaction <= 0.5 %, throughput >= 20x Presidio's.

The last line of stdout is one JSON object. Usage::

    python benchmarks/detect.py [--corpus FILE] [--repeats 10] [--batch 50] [--no-presidio]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import cpu_model, note, out
from privguard.detect.registry import build_detector, clear_caches

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "detect" / "corpus.jsonl"
STRICT = ("PHONE_NUMBER", "CN_RESIDENT_ID", "BANK_CARD", "EMAIL_ADDRESS", "IP_ADDRESS")
LOOSE = ("PERSON", "ADDRESS")
PRESIDIO_TYPES = {"CREDIT_CARD": "BANK_CARD", "US_PASSPORT": "PASSPORT", "LOCATION": "ADDRESS"}

Span = tuple[int, int, str]


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def iou(a: Span, b: Span) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def evaluate(rows: Sequence[dict[str, Any]], predicted: Sequence[list[Span]]) -> dict[str, Any]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    pi_chars = leaked = other_chars = over = 0
    for row, preds in zip(rows, predicted, strict=True):
        gold = [(s["start"], s["end"], s["entity_type"]) for s in row["spans"]]
        used: set[int] = set()
        for p in preds:
            match = next(
                (
                    i
                    for i, g in enumerate(gold)
                    if i not in used and g[2] == p[2] and iou(g, p) >= 0.5
                ),
                None,
            )
            if match is None:
                counts[p[2]][1] += 1
            else:
                used.add(match)
                counts[p[2]][0] += 1
        for i, g in enumerate(gold):
            if i not in used:
                counts[g[2]][2] += 1
        n = len(row["text"])
        is_pi = [False] * n
        for s, e, _ in gold:
            for k in range(s, e):
                is_pi[k] = True
        covered = [False] * n
        for s, e, _ in preds:
            for k in range(s, e):
                covered[k] = True
        for k in range(n):
            if is_pi[k]:
                pi_chars += 1
                leaked += not covered[k]
            else:
                other_chars += 1
                over += covered[k]
    per_type = {}
    for etype, (tp, fp, fn) in sorted(counts.items()):
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_type[etype] = {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f1}
    return {
        "per_type": per_type,
        "leak_rate": leaked / pi_chars if pi_chars else 0.0,
        "over_redaction": over / other_chars if other_chars else 0.0,
    }


def presidio_analyzer() -> Callable[[str], list[Span]] | None:
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError:
        note("presidio-analyzer is not installed: Presidio is skipped. To compare, run "
             "`pip install presidio-analyzer` in this environment (it is not a dependency of "
             "privguard) and run this benchmark again.")
        return None
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    nlp = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "no_op",
            "models": [{"lang_code": "en", "model_name": "no_op"}],
        }
    ).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])

    def analyse(text: str) -> list[Span]:
        results = engine.analyze(text, language="en")
        return [(r.start, r.end, PRESIDIO_TYPES.get(r.entity_type, r.entity_type))
                for r in results]

    return analyse


def presidio_version() -> str:
    try:
        from importlib.metadata import version

        return version("presidio-analyzer")
    except Exception:
        return "not installed"


def timed(
    texts: Sequence[str],
    sides: dict[str, tuple[Callable[[str], Any], int]],
    batch: int,
) -> dict[str, float]:
    """Seconds per side for one scan of every text, batches alternating the leading side."""
    seconds = dict.fromkeys(sides, 0.0)
    names = list(sides)
    for index, start in enumerate(range(0, len(texts), batch)):
        chunk = texts[start : start + batch]
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            fn, repeats = sides[name]
            spent = 0.0
            for _ in range(repeats):
                clear_caches()  # every pass sees the values for the first time, as on real data
                t0 = time.perf_counter()
                for text in chunk:
                    fn(text)
                spent += time.perf_counter() - t0
            seconds[name] += spent / repeats
    return seconds


def table(title: str, result: dict[str, Any]) -> None:
    out(f"\n{title}")
    out(f"{'entity':<18}{'tp':>6}{'fp':>6}{'fn':>6}{'precision':>11}{'recall':>9}{'f1':>8}")
    for etype, c in result["per_type"].items():
        out(f"{etype:<18}{c['tp']:>6}{c['fp']:>6}{c['fn']:>6}{c['precision']:>11.3f}"
            f"{c['recall']:>9.3f}{c['f1']:>8.3f}")
    out(f"leak rate        {result['leak_rate']:.2%}   (PI characters left unredacted)")
    out(f"over-redaction   {result['over_redaction']:.2%}   (other characters redacted)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeats", type=int, default=10, help="privguard passes per batch")
    parser.add_argument("--batch", type=int, default=50, help="texts per timed batch")
    parser.add_argument("--no-presidio", action="store_true", help="skip Presidio")
    args = parser.parse_args(argv)
    rows = load(args.corpus)
    texts = [r["text"] for r in rows]
    chars = sum(len(t) for t in texts)

    t0 = time.perf_counter()
    detector = build_detector()
    for text in texts:  # warm-up: jieba's dictionary, phonenumbers' metadata, caches
        detector.scan(text)
    warm = time.perf_counter() - t0

    def ours(text: str) -> list[Span]:
        return [(f.start, f.end, f.entity_type) for f in detector.scan(text)]

    presidio = None if args.no_presidio else presidio_analyzer()
    if presidio is not None:
        for text in texts[:20]:
            presidio(text)

    out(f"python       {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.platform()}")
    out(f"cpu          {cpu_model()}")
    out(f"presidio     {presidio_version()} (predefined recognizers, language en, no_op NLP)")
    out(f"corpus       {args.corpus.name}: {len(rows)} texts, {chars:,} characters, "
        f"{sum(len(r['spans']) for r in rows)} labelled spans")
    out(f"warm-up      detector built and first pass in {warm:.2f} s (not timed below)")

    ours_result = evaluate(rows, [ours(t) for t in texts])
    table("privguard", ours_result)
    presidio_result = None
    if presidio is not None:
        presidio_result = evaluate(rows, [presidio(t) for t in texts])
        table("presidio", presidio_result)

    sides: dict[str, tuple[Callable[[str], Any], int]] = {
        "privguard": (detector.scan, args.repeats)
    }
    if presidio is not None:
        sides["presidio"] = (presidio, 1)
    seconds = timed(texts, sides, args.batch)
    rate = {name: chars / s for name, s in seconds.items()}
    out("\nthroughput")
    for name, r in rate.items():
        out(f"{name:<12} {r:>14,.0f} chars/s")
    ratio = rate["privguard"] / rate["presidio"] if "presidio" in rate else None
    if ratio is not None:
        out(f"speed ratio  {ratio:.1f}x  (privguard / presidio; goal >= 20)")

    pt = ours_result["per_type"]
    goals = {
        "leak": ours_result["leak_rate"] <= 0.01,
        "over_redaction": ours_result["over_redaction"] <= 0.005,
        "f1_strict": all(pt.get(t, {}).get("f1", 0) >= 0.97 for t in STRICT),
        "f1_loose": all(pt.get(t, {}).get("f1", 0) >= 0.90 for t in LOOSE),
        "speed": ratio is not None and ratio >= 20,
    }
    out("goals        " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in goals.items()))
    summary = {
        "leak_rate": round(ours_result["leak_rate"], 4),
        "over_redaction": round(ours_result["over_redaction"], 4),
        "f1": {t: round(c["f1"], 3) for t, c in pt.items()},
        "chars_per_s": round(rate["privguard"]),
        "presidio_chars_per_s": round(rate["presidio"]) if "presidio" in rate else None,
        "speed_ratio": round(ratio, 1) if ratio is not None else None,
        "presidio_leak_rate": round(presidio_result["leak_rate"], 4) if presidio_result else None,
        "presidio_over_redaction": (
            round(presidio_result["over_redaction"], 4) if presidio_result else None
        ),
        "presidio_f1": (
            {t: round(c["f1"], 3) for t, c in presidio_result["per_type"].items()}
            if presidio_result else None
        ),
        "texts": len(rows),
        "chars": chars,
        "goals_met": all(goals.values()),
    }
    out(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
