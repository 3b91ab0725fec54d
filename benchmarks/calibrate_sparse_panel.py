"""Does the pooled difference-in-differences hold its error rate on real series, small ones included?

Real monthly series are cut into pseudo-studies: within one crime category,
the series are sorted by size and taken in blocks of ``--targets`` +
``--controls`` neighbours; every fourth member of a block plays a target,
the others its comparison areas. A 36-month window (24 months before a common
fake start, 12 after) is placed at a seeded position in the series. Nothing
happened at the fake start, so every significant pooled estimate is a false
positive; then the targets' counts from the start are binomially thinned to a
true rate ratio of 0.8 (``pipeline.calibration.thin_counts``): power
(significant and below 1) and coverage of 0.8 by the 95 % interval.

The same pseudo-studies go to the panel design (``pipeline.designs.panel``,
its default inference), which refuses targets without events on both sides.
Results are split by the targets' mean monthly count (< 20, 20-100, >= 100).

Data: Brå's monthly counts per municipality and category (2013-2016; the
data the inference was chosen on) and, held out, London's boroughs by minor
category (2008-2016) and US city agencies by offence (2018-2024), from
``../shared/reference/``. Nothing is tuned to the held-out sets.

Usage: python benchmarks/calibrate_sparse_panel.py [--groups N] [--draws N] [--quick]
       [--data Brå,London,US] [--designs pooled_did,panel]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.designs.panel import fit_panel  # noqa: E402
from pipeline.designs.pooled_did import fit_pooled_did  # noqa: E402
from pipeline.errors import EstimationError  # noqa: E402
from pipeline.inputs.bra import read_bra_folder  # noqa: E402
from pipeline.validation import calibration as cal  # noqa: E402

REFERENCE = REPO.parent / "shared" / "reference"
ALPHA = 0.05
RATE_RATIO = 0.8
BEFORE, AFTER = 24, 12
BANDS = [(0, 20, "< 20"), (20, 100, "20-100"), (100, np.inf, ">= 100")]
SEED = 2004


# --------------------------------------------------------------------------- data


def bra_series() -> dict[tuple[str, str], np.ndarray]:
    frame = read_bra_folder(REFERENCE / "bra_monthly_2013_2016")
    out = {}
    for (name, category), group in frame.groupby(["municipality", "category"], sort=True):
        counts = group.sort_values("period")["count"].astype("Float64").to_numpy(float, np.nan)
        if np.isfinite(counts).all():
            out[(str(category), str(name))] = counts
    return out


def london_series() -> dict[tuple[str, str], np.ndarray]:
    frame = pd.read_csv(
        REFERENCE / "london_mps_borough_2008_2016" / "MPS_Borough_Level_Crime_Historic.csv"
    )
    months = [c for c in frame.columns if c.isdigit()]
    out = {}
    for _, row in frame.iterrows():
        if row["Major Category"] == "Fraud or Forgery":  # recording moved away in 2013
            continue
        counts = pd.to_numeric(row[months], errors="coerce").to_numpy(float)
        if np.isfinite(counts).all() and (counts >= 0).all():
            out[(str(row["Minor Category"]), str(row["Borough"]))] = counts
    return out


def us_series() -> dict[tuple[str, str], np.ndarray]:
    frame = pd.read_csv(REFERENCE / "us_rtci_agencies_2018_2024" / "by_agency_table.csv")
    frame = frame[frame["state_name"] != "Nationwide"]
    offences = ["murder", "rape", "robbery", "aggravated_assault", "burglary", "theft"]
    offences.append("motor_vehicle_theft")
    out = {}
    for agency, group in frame.groupby("agency_full", sort=True):
        group = group.sort_values("date")
        if len(group) != 79:
            continue
        for offence in offences:
            counts = pd.to_numeric(group[offence], errors="coerce").to_numpy(float)
            if not np.isfinite(counts).all() or (counts < 0).any():
                continue
            # Reporting gaps or dumps: months near 0 or several times the median.
            median = np.median(counts)
            if median >= 5 and ((counts < 0.2 * median) | (counts > 4 * median)).any():
                continue
            out[(offence, str(agency))] = counts
    return out


# --------------------------------------------------------------------------- studies


def pseudo_studies(series, n_targets, n_controls, groups_per_band, rng):
    """Blocks of size-neighbours within a category: targets, controls, window, band."""
    by_category: dict[str, list] = {}
    for (category, unit), counts in series.items():
        by_category.setdefault(category, []).append((float(counts.mean()), unit, counts))
    size = n_targets + n_controls
    candidates = []
    for category, members in by_category.items():
        members.sort(key=lambda m: (m[0], m[1]))
        for first in range(0, len(members) - size + 1, size):
            block = members[first : first + size]
            length = len(block[0][2])
            if length < BEFORE + AFTER:
                continue
            offset = int(rng.integers(0, length - BEFORE - AFTER + 1))
            window = slice(offset, offset + BEFORE + AFTER)
            roles = np.zeros(size, dtype=bool)
            roles[:: size // n_targets][:n_targets] = True
            targets = [
                (f"{category}|{m[1]}", m[2][window]) for m, r in zip(block, roles, strict=True) if r
            ]
            controls = [
                (f"{category}|{m[1]}", m[2][window])
                for m, r in zip(block, roles, strict=True)
                if not r
            ]
            mean = float(np.mean([c.mean() for _, c in targets]))
            candidates.append((mean, targets, controls))
    chosen = []
    for low, high, label in BANDS:
        inside = [c for c in candidates if low <= c[0] < high]
        order = rng.permutation(len(inside))[:groups_per_band]
        chosen.extend((label, *inside[i]) for i in order)
    return chosen


def _frame(counts, periods):
    return pd.DataFrame({"value": counts.astype(float), "exposure": 1.0}, index=periods)


def run_study(study, draws, rng, designs=("pooled_did", "panel")) -> list[dict]:
    band, mean, targets, controls = study
    periods = pd.period_range("2000-01", periods=BEFORE + AFTER, freq="M")
    start = periods[BEFORE]
    control_frames = {name: _frame(c, periods) for name, c in controls}
    rows = []
    for truth in (1.0, RATE_RATIO):
        target_frames = {}
        for name, counts in targets:
            y = counts.copy()
            if truth != 1.0:
                y[BEFORE:] = cal.thin_counts(y[BEFORE:], truth, rng)
            target_frames[name] = _frame(y, periods)
        starts = dict.fromkeys(target_frames, start)
        common = {"band": band, "mean": mean, "truth": truth}
        for design in designs:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if design == "pooled_did":
                        fit = fit_pooled_did(
                            target_frames,
                            starts,
                            control_frames,
                            draws=draws,
                            bootstrap=0,
                            seed=int(rng.integers(1 << 31)),
                        )
                    else:
                        fit = fit_panel(target_frames, starts, control_frames)
            except EstimationError:
                rows.append({**common, "design": design, "refused": True})
                continue
            rows.append(
                {
                    **common,
                    "design": design,
                    "refused": False,
                    "ratio": fit.ratio,
                    "ci_low": fit.ci_low,
                    "ci_high": fit.ci_high,
                    "p_value": fit.p_value,
                }
            )
    return rows


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (data, design, band), group in results.groupby(["data", "design", "band"], sort=False):
        null = group[group["truth"] == 1.0]
        effect = group[group["truth"] == RATE_RATIO]
        fitted_null = null[~null["refused"]]
        fitted_effect = effect[~effect["refused"]]
        fp = (fitted_null["p_value"] < ALPHA).mean()
        cover = (
            (fitted_effect["ci_low"] <= RATE_RATIO) & (RATE_RATIO <= fitted_effect["ci_high"])
        ).mean()
        power = ((fitted_effect["p_value"] < ALPHA) & (fitted_effect["ratio"] < 1)).mean()
        out.append(
            {
                "data": data,
                "design": design,
                "size band": band,
                "studies": len(null),
                "refused": f"{null['refused'].mean():.0%}",
                "false positives": f"{fp:.1%}" if len(fitted_null) else "-",
                "coverage of 0.8": f"{cover:.1%}" if len(fitted_effect) else "-",
                "power": f"{power:.1%}" if len(fitted_effect) else "-",
            }
        )
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=60, help="pseudo-studies per size band")
    parser.add_argument("--targets", type=int, default=5)
    parser.add_argument("--controls", type=int, default=15)
    parser.add_argument("--draws", type=int, default=199, help="randomisation draws")
    parser.add_argument("--quick", action="store_true", help="10 pseudo-studies per band")
    parser.add_argument(
        "--data", default="Brå,London,US", help="comma-separated data sets (Brå, London, US)"
    )
    parser.add_argument(
        "--designs", default="pooled_did,panel", help="comma-separated designs (pooled_did, panel)"
    )
    args = parser.parse_args()
    data, designs = args.data.split(","), tuple(args.designs.split(","))
    for given, known, option in (
        (data, ("Brå", "London", "US"), "--data"),
        (designs, ("pooled_did", "panel"), "--designs"),
    ):
        unknown = sorted(set(given) - set(known))
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    groups = 10 if args.quick else args.groups
    if not REFERENCE.is_dir():
        print(f"reference data not found at {REFERENCE}; nothing to do")
        return
    started = time.perf_counter()
    frames = []
    for name, label, loader in (
        ("Brå", "Brå", bra_series),
        ("London", "London (held out)", london_series),
        ("US", "US (held out)", us_series),
    ):
        if name not in data:
            continue
        rng = np.random.default_rng(SEED)
        studies = pseudo_studies(loader(), args.targets, args.controls, groups, rng)
        rows = [r for study in studies for r in run_study(study, args.draws, rng, designs)]
        frame = pd.DataFrame(rows)
        frame.insert(0, "data", label)
        frames.append(frame)
        print(f"{label}: {len(studies)} pseudo-studies", flush=True)
    table = summarise(pd.concat(frames, ignore_index=True))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(
        f"\n{args.targets} targets, {args.controls} comparison areas, {BEFORE} months before a common "
        f"fake start and {AFTER} after; {args.draws} randomisation draws; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
