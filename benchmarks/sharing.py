"""What de-identifying a large export costs: 1,000,000 synthetic rows to k=5 (and k=5, l=2).

Synthetic order rows (no vault involved: the gate's cost is measured by vault.py/access.py):
subject id, age, address (province/city/district from a realistic skewed distribution:
provinces weighted by population, a Zipf law over each province's cities and each city's
districts), gender, order date (two years, with the 6.18 and Double 11 peaks), spend
(log-normal), and product category as the sensitive attribute. Three sides, each in its own
child process so that its peak memory is its own:

* ``baseline``: what the same export costs without de-identification: copy the columns and count
  the rows per combination of the raw quasi-identifiers with ``DataFrame.groupby().size()``;
* ``k5``: :func:`privguard.sharing.deid.build_dataset` to k=5 with at most 5 % suppression:
  recipient pseudonyms (HMAC per row), generalisation hierarchies, the lattice search, the
  output frame and the report;
* ``k5l2``: the same with distinct 2-diversity of the category.

Each side runs ``--repeats`` times, in rotation (baseline, k5, k5l2, then k5, k5l2, baseline, ...
so that drift of the machine hits all sides alike); the median wall time is reported. Peak
memory is the child's peak resident set (``ru_maxrss`` from ``wait4``), and ``data`` is its
resident set once the rows were generated, before the timed work, so ``peak - data`` is what the
work itself added. Data generation (same seed, same rows in every child) and imports are not
timed.

Every de-identified output is verified in the child, independently of the lattice code: its row
count is the input minus the reported suppression, a pandas ``groupby`` over the released
quasi-identifier columns finds no class below k (nor below l distinct categories), and the
smallest class is the reported k. A failure prints ``VERIFY FAILED`` and exits 2 without the
result line.

The last line of stdout is one JSON object starting with ``time_ratio`` and
``memory_ratio`` (k5 / baseline), then the achieved ``k``, ``suppression_rate`` and
``information_loss``, and the same figures for ``k5l2``. Usage::

    python benchmarks/sharing.py [N] [--repeats 3] [--seed 2026] [--max-suppression 0.05]

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from _common import cpu_model, note, out, verify_failed

DEFAULT_N = 1_000_000
DEFAULT_SEED = 2026
DEFAULT_REPEATS = 3
SIDES = ("baseline", "k5", "k5l2")
RECIPIENT = uuid.UUID("5e1f0000-0000-4000-8000-000000000001")

# Provinces with their 2020 census population (millions) and a few of their cities, largest
# first: the address distribution is skewed like real customers are (many in Guangdong, very
# few in Tibet or Qinghai).
PROVINCES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("广东省", 126.0, ("广州市", "深圳市", "东莞市", "佛山市", "惠州市", "汕头市", "湛江市")),
    ("山东省", 101.5, ("济南市", "青岛市", "临沂市", "潍坊市", "烟台市", "菏泽市")),
    ("河南省", 99.4, ("郑州市", "南阳市", "周口市", "商丘市", "洛阳市", "信阳市")),
    ("江苏省", 84.7, ("苏州市", "南京市", "无锡市", "徐州市", "南通市", "常州市")),
    ("四川省", 83.7, ("成都市", "南充市", "达州市", "绵阳市", "宜宾市")),
    ("河北省", 74.6, ("石家庄市", "保定市", "邯郸市", "唐山市", "沧州市")),
    ("湖南省", 66.4, ("长沙市", "衡阳市", "邵阳市", "岳阳市", "常德市")),
    ("浙江省", 64.6, ("杭州市", "宁波市", "温州市", "金华市", "台州市", "嘉兴市")),
    ("安徽省", 61.0, ("合肥市", "阜阳市", "宿州市", "六安市", "芜湖市")),
    ("湖北省", 57.8, ("武汉市", "襄阳市", "荆州市", "宜昌市", "黄冈市")),
    ("广西壮族自治区", 50.1, ("南宁市", "桂林市", "柳州市", "玉林市")),
    ("云南省", 47.2, ("昆明市", "曲靖市", "昭通市", "大理市")),
    ("江西省", 45.2, ("南昌市", "赣州市", "上饶市", "九江市")),
    ("辽宁省", 42.6, ("沈阳市", "大连市", "鞍山市", "锦州市")),
    ("福建省", 41.5, ("福州市", "厦门市", "泉州市", "漳州市")),
    ("陕西省", 39.5, ("西安市", "咸阳市", "宝鸡市", "渭南市")),
    ("贵州省", 38.6, ("贵阳市", "遵义市", "毕节市")),
    ("山西省", 34.9, ("太原市", "运城市", "大同市", "临汾市")),
    ("重庆市", 32.1, ("重庆市",)),
    ("黑龙江省", 31.9, ("哈尔滨市", "齐齐哈尔市", "大庆市")),
    ("新疆维吾尔自治区", 25.9, ("乌鲁木齐市", "喀什市", "伊宁市")),
    ("甘肃省", 25.0, ("兰州市", "天水市", "庆阳市")),
    ("上海市", 24.9, ("上海市",)),
    ("内蒙古自治区", 24.0, ("呼和浩特市", "包头市", "赤峰市")),
    ("吉林省", 24.1, ("长春市", "吉林市", "四平市")),
    ("北京市", 21.9, ("北京市",)),
    ("天津市", 13.9, ("天津市",)),
    ("海南省", 10.1, ("海口市", "三亚市")),
    ("宁夏回族自治区", 7.2, ("银川市", "石嘴山市")),
    ("青海省", 5.9, ("西宁市", "海东市")),
    ("西藏自治区", 3.6, ("拉萨市", "日喀则市")),
)
DISTRICT_NAMES = (
    "城关区", "新城区", "高新区", "经开区", "东区", "西区", "南区", "北区", "中心区",
    "开发区", "滨海区", "港区", "老城区", "新区", "湖滨区", "江北区",
)
CATEGORIES = (
    ("服装", 22), ("食品", 16), ("数码", 12), ("家居", 10), ("美妆", 9), ("母婴", 7),
    ("运动", 6), ("图书", 5), ("医药保健", 4), ("宠物", 4), ("汽车用品", 3), ("珠宝", 2),
)


def zipf(n: int, s: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def generate(n: int, seed: int) -> pd.DataFrame:
    """N order rows; the same seed gives the same rows in every process."""
    rng = np.random.default_rng(seed)
    # The address hierarchy: every (province, city, district) with its probability.
    triples: list[tuple[str, str, str]] = []
    weights: list[float] = []
    pop = np.array([p for _, p, _ in PROVINCES])
    pop = pop / pop.sum()
    for (province, _, cities), p_share in zip(PROVINCES, pop, strict=True):
        city_w = zipf(len(cities))
        for c_index, (city, c_share) in enumerate(zip(cities, city_w, strict=True)):
            districts = DISTRICT_NAMES[: max(3, 12 - 2 * c_index)]
            for district, d_share in zip(districts, zipf(len(districts), 1.3), strict=True):
                triples.append((province, city, district))
                weights.append(p_share * c_share * d_share)
    probs = np.array(weights) / sum(weights)
    where = rng.choice(len(triples), n, p=probs)
    table = np.array(triples, dtype=object)
    # Ages: most buyers 20-45, a thinner tail of teenagers and older customers.
    age = np.where(rng.random(n) < 0.9, rng.normal(33, 8, n), rng.uniform(16, 85, n))
    age = np.clip(age, 16, 90).astype(np.int16)
    # Two years of orders; June (6.18) and November (Double 11) are peak months.
    month_w = np.ones(24)
    month_w[[5, 17]] = 2.0
    month_w[[10, 22]] = 3.5
    month = rng.choice(24, n, p=month_w / month_w.sum())
    day = rng.integers(0, 28, n)
    order_date = (np.datetime64("2024-01-01", "M") + month).astype("datetime64[D]") + day
    spend = np.round(rng.lognormal(np.log(120), 1.0, n), 2)
    cat_w = np.array([w for _, w in CATEGORIES], float)
    category = np.array([c for c, _ in CATEGORIES], dtype=object)[
        rng.choice(len(CATEGORIES), n, p=cat_w / cat_w.sum())
    ]
    ids = rng.integers(0, 2**63, size=(n, 2), dtype=np.uint64)
    subject_ids = [uuid.UUID(int=(int(a) << 64) | int(b)) for a, b in ids]
    return pd.DataFrame({
        "subject_id": subject_ids,
        "age": age,
        "addr_province": pd.Categorical(table[where, 0]),
        "addr_city": pd.Categorical(table[where, 1]),
        "addr_district": pd.Categorical(table[where, 2]),
        "gender": pd.Categorical(rng.choice(["female", "male"], n, p=[0.56, 0.44])),
        "order_date": pd.to_datetime(order_date),
        "spend": spend,
        "category": pd.Categorical(category),
    })


QI_COLUMNS = ["age", "addr_province", "addr_city", "addr_district", "gender", "order_date",
              "spend"]


def spec(l_div: int, max_suppression: float) -> Any:
    from privguard.sharing.deid_rules import (
        AddressQI,
        AgeQI,
        CategoryQI,
        DatasetSpec,
        DateQI,
        RangeQI,
    )

    return DatasetSpec(
        quasi_identifiers=(AgeQI("age"), AddressQI("addr"), CategoryQI("gender"),
                           DateQI("order_date"), RangeQI("spend", (50.0, 200.0, 1000.0))),
        k=5, l_diversity=l_div, sensitive="category", max_suppression=max_suppression,
    )


# ----------------------------------------------------------------------------------- child
def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(side: str, n: int, seed: int, max_suppression: float) -> int:
    from privguard.sharing.deid import build_dataset
    from privguard.sharing.pseudonyms import Pseudonymiser

    frame = generate(n, seed)
    pseudonymiser = Pseudonymiser(bytes(range(32)), RECIPIENT)
    data_mib = rss_mib()
    result: dict[str, Any] = {"side": side, "data_mib": data_mib}
    if side == "baseline":
        start = time.perf_counter()
        copy = frame.copy()
        sizes = copy.groupby(QI_COLUMNS, observed=True, sort=False).size()
        result["seconds"] = time.perf_counter() - start
        result["classes"] = len(sizes)
        result["raw_k"] = int(sizes.min())
        print(json.dumps(result), flush=True)
        return 0
    the_spec = spec(2 if side == "k5l2" else 1, max_suppression)
    start = time.perf_counter()
    dataset, report = build_dataset(frame, the_spec, pseudonymiser)
    result["seconds"] = time.perf_counter() - start
    qis = [q.column for q in the_spec.quasi_identifiers]
    problems = []
    if len(dataset) != n - report.suppressed:
        problems.append(f"{len(dataset)} rows out, expected {n} - {report.suppressed}")
    grouped = dataset.groupby(qis, observed=True, sort=False)
    sizes = grouped.size()
    if int(sizes.min()) < the_spec.k or int(sizes.min()) != report.k_achieved:
        problems.append(f"smallest class {int(sizes.min())}, report says {report.k_achieved}")
    if side == "k5l2":
        distinct = grouped["category"].nunique()
        if int(distinct.min()) < 2 or int(distinct.min()) != report.l_achieved:
            problems.append(f"least diverse class {int(distinct.min())}, "
                            f"report says {report.l_achieved}")
    if report.suppression_rate > max_suppression:
        problems.append(f"suppressed {report.suppression_rate:.4f} > {max_suppression}")
    if problems:
        result["problems"] = problems
    subset = frame["subject_id"].iloc[: min(n, 200_000)]
    start = time.perf_counter()
    pseudonymiser.many(subset)
    result["pseudonym_seconds_per_row"] = (time.perf_counter() - start) / len(subset)
    result["report"] = report.as_dict()
    print(json.dumps(result), flush=True)
    return 0


# ----------------------------------------------------------------------------------- parent
def run_child(side: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), str(args.n), "--child", side,
           "--seed", str(args.seed), "--max-suppression", str(args.max_suppression)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{side} child failed with status {proc.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=DEFAULT_N,
                        help=f"rows (default {DEFAULT_N:,})")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--max-suppression", type=float, default=0.05)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n < 10 or args.repeats < 1:
        parser.error("N must be at least 10 and --repeats at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args.child, args.n, args.seed, args.max_suppression)
    out(f"python       {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.platform()}")
    out(f"cpu          {cpu_model()} ({os.cpu_count()} logical CPUs)")
    out(f"libraries    numpy {np.__version__}, pandas {pd.__version__}")
    out(f"workload     N={args.n:,} order rows, 5 quasi-identifiers (age, address, gender, "
        f"order date, spend), sensitive=category, k=5, max suppression "
        f"{args.max_suppression:.0%}, seed={args.seed}, {args.repeats} repeats per side")
    out(f"started      {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")

    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for repeat in range(args.repeats):
        for step in range(len(SIDES)):
            side = SIDES[(repeat + step) % len(SIDES)]
            note(f"repeat {repeat + 1}/{args.repeats}: {side}")
            runs[side].append(run_child(side, args))
    problems = [f"{side}: {p}" for side in SIDES for r in runs[side] for p in r.get("problems", [])]
    if verify_failed(problems, "the de-identified output did not match its report"):
        return 2

    def median(side: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[side])

    base_s, base_peak = median("baseline", "seconds"), median("baseline", "peak_mib")
    base_data = median("baseline", "data_mib")
    out()
    out(f"baseline     raw quasi-identifiers: {runs['baseline'][0]['classes']:,} classes, "
        f"smallest {runs['baseline'][0]['raw_k']} (k of the raw data)")
    out()
    out(f"{'side':<10} {'seconds':>8} {'ratio':>6} {'peak MiB':>9} {'data MiB':>9} "
        f"{'work MiB':>9} {'mem ratio':>9} {'k':>3} {'l':>3} {'suppressed':>10} {'NCP':>6}")
    summary: dict[str, dict[str, Any]] = {}
    for side in SIDES:
        seconds, peak, data = (median(side, k) for k in ("seconds", "peak_mib", "data_mib"))
        line = (f"{side:<10} {seconds:>8.2f} {seconds / base_s:>6.1f} {peak:>9.0f} {data:>9.0f} "
                f"{peak - data:>9.0f} {(peak - data) / max(base_peak - base_data, 1):>9.1f}")
        if side != "baseline":
            rep = runs[side][0]["report"]
            line += (f" {rep['k_achieved']:>3} {rep['l_achieved']:>3} "
                     f"{rep['suppression_rate']:>10.2%} {rep['information_loss']:>6.3f}")
            summary[side] = {
                "seconds": round(seconds, 2), "peak_mib": round(peak),
                "work_mib": round(peak - data), "k": rep["k_achieved"], "l": rep["l_achieved"],
                "suppression_rate": round(rep["suppression_rate"], 4),
                "information_loss": round(rep["information_loss"], 4),
                "levels": rep["levels"], "nodes_evaluated": rep["nodes_evaluated"],
                "lattice_size": rep["lattice_size"],
            }
        out(line)
    out()
    for side in ("k5", "k5l2"):
        rep = runs[side][0]["report"]
        levels = ", ".join(f"{c}={lv}" for c, lv in rep["levels"].items())
        out(f"{side:<10} levels: {levels}; lattice {rep['nodes_evaluated']} of "
            f"{rep['lattice_size']} nodes evaluated, {rep['minimal_nodes']} minimal")
    per_row = median("k5", "pseudonym_seconds_per_row")
    out(f"pseudonyms   {per_row * 1e6:.2f} µs per row (HMAC-SHA256), "
        f"{per_row * args.n:.2f} s of each de-identified run's time")
    out(f"seconds      median of {args.repeats}; ratio = side / baseline")
    out("peak MiB     child's peak RSS; data = RSS with the rows generated, before timing; "
        "work = peak - data")
    k5 = summary["k5"]
    result = {
        "time_ratio": round(k5["seconds"] / base_s, 2),
        "memory_ratio": round(k5["work_mib"] / max(base_peak - base_data, 1), 2),
        "rows": args.n,
        "k": k5["k"],
        "suppression_rate": k5["suppression_rate"],
        "information_loss": k5["information_loss"],
        "k5_seconds": k5["seconds"],
        "k5_peak_mib": k5["peak_mib"],
        "baseline_seconds": round(base_s, 2),
        "baseline_peak_mib": round(base_peak),
        "k5l2": {key: summary["k5l2"][key] for key in
                 ("seconds", "peak_mib", "k", "l", "suppression_rate", "information_loss")},
    }
    out(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
