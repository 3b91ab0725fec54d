"""The study-level step's figures: pooling with a shared donor pool, the confirmatory family on
real series, and the demo's ground truth.

1. Simulation (``pipeline.validation.pooling``): null programmes, 3 municipalities x 2
   targets sharing 20 comparison areas, municipality-level shocks; the panel's pooled
   false-positive rate and its standard error against the spread of its estimates, beside a
   flat meta-analysis of the same places. Then municipalities whose effects differ: the
   coverage of the programme's effect.
2. Real series: pseudo-programmes from Brå's monthly totals (2013-2016). Each takes 4
   "municipalities" of 2-3 neighbouring Brå municipalities (by size) as their target places,
   with seeded staggered fake starts, and the 25 municipalities nearest in size outside the
   programme as the shared comparison areas. Nothing happened at the fake starts: the
   confirmatory family (each municipality's panel and the programme's panel, Holm) should call
   anything clear in at most 5 % of programmes.
3. The demo (``pipeline.validation.demo_truth``): regenerated from many seeds, how often the
   confirmatory family calls each municipality as the ground truth says.

   With ``--london``, the same on the held-out London boroughs (4 x 2 boroughs, the other 24
   as comparison areas; fraud left out), reported, never tuned to.

Usage: python benchmarks/study_level.py [--data DIR] [--programmes N] [--replicates N]
       [--seeds N] [--skip-demo] [--skip-simulation] [--london]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.designs.panel import fit_panel
from pipeline.errors import EstimationError
from pipeline.inputs.bra import monthly_series, read_bra_folder
from pipeline.methods.multiplicity import adjust_p_values

REFERENCE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "bra_monthly_2013_2016"
)
SEED = 2026
SIZES = (2, 3, 2, 3)  # targets per pseudo-municipality, as in the demo
N_CONTROLS = 25
MIN_PRE, MIN_POST = 18, 12


def load_london(folder: Path) -> dict[str, pd.DataFrame]:
    """London's monthly recorded crime per borough, fraud left out (its recording moved in 2013)."""
    frame = pd.read_csv(folder / "MPS_Borough_Level_Crime_Historic.csv")
    frame = frame[frame["Major Category"] != "Fraud or Forgery"]
    months = [c for c in frame.columns if c.isdigit()]
    totals = frame.groupby("Borough")[months].sum()
    index = pd.PeriodIndex([f"{m[:4]}-{m[4:]}" for m in months], freq="M")
    return {
        str(b): pd.DataFrame({"value": row.to_numpy(dtype=float), "exposure": 1.0}, index=index)
        for b, row in totals.iterrows()
    }


def null_programme(
    series: dict[str, pd.DataFrame],
    index: int,
    sizes: tuple[int, ...] = SIZES,
    n_controls: int | None = N_CONTROLS,
) -> dict:
    """One pseudo-programme on real series: Holm over its municipalities' and its pooled panel.

    ``n_controls`` None: every unit outside the programme is a comparison area.
    """
    rng = np.random.default_rng([SEED, index])
    order = sorted(series, key=lambda name: (series[name]["value"].mean(), name))
    size = sum(sizes)
    spare = len(order) - size - (n_controls or 0)
    first = int(rng.integers(0, spare)) if spare > 0 else 0
    members = (
        order[first : first + size] if n_controls else list(rng.choice(order, size, replace=False))
    )
    # Comparison areas: the nearest in size outside the programme, on both sides.
    outside = [n for n in order if n not in members]
    centre = np.log(np.mean([series[n]["value"].mean() for n in members]))
    outside.sort(key=lambda n: abs(np.log(series[n]["value"].mean()) - centre))
    controls = {n: series[n] for n in outside[:n_controls]}
    shuffled = [members[i] for i in rng.permutation(size)]
    periods = series[members[0]].index
    starts = {n: periods[int(rng.integers(MIN_PRE, len(periods) - MIN_POST + 1))] for n in members}
    municipalities, at = [], 0
    for k in sizes:
        municipalities.append(shuffled[at : at + k])
        at += k
    # The programme's panel knows which pseudo-municipality each place is in.
    municipality_of = {n: f"m{k}" for k, places in enumerate(municipalities) for n in places}
    p_values = []
    for places in [*municipalities, members]:
        try:
            fit = fit_panel(
                {n: series[n] for n in places},
                {n: starts[n] for n in places},
                controls,
                municipalities=municipality_of,
                nested=False,  # the confirmatory question: these places
            )
            p_values.append(fit.p_value)
        except EstimationError:
            p_values.append(np.nan)
    adjusted = adjust_p_values(np.array(p_values), method="holm")
    return {
        "programme": index,
        **{f"p_{i}": p for i, p in enumerate(p_values)},
        "any_clear": bool(np.nanmin(adjusted) < 0.05),
        "any_unadjusted": bool(np.nanmin(p_values) < 0.05),
        "programme_clear": bool(adjusted[-1] < 0.05),
    }


def real_series(folder: Path, programmes: int) -> pd.DataFrame:
    series = monthly_series(read_bra_folder(folder))
    rows = [null_programme(series, i) for i in range(programmes)]
    return pd.DataFrame(rows)


def london_series(folder: Path, programmes: int) -> pd.DataFrame:
    """Held out: 4 pseudo-municipalities of 2 boroughs each, the other 24 boroughs as controls."""
    series = load_london(folder)
    rows = [null_programme(series, i, (2, 2, 2, 2), None) for i in range(programmes)]
    return pd.DataFrame(rows)


def _print_family(table: pd.DataFrame, n: int) -> None:
    print(f"   any confirmatory estimate clear (Holm over 5): {_rate(table['any_clear'])}")
    print(f"   the programme's pooled estimate clear: {_rate(table['programme_clear'])}")
    print(f"   any of the 5 with unadjusted p < 0.05: {_rate(table['any_unadjusted'])}")
    single = pd.concat([table[f"p_{i}"] for i in range(n)]).dropna() < 0.05
    print(f"   single estimates with unadjusted p < 0.05: {_rate(single)}", flush=True)


def _rate(flags: pd.Series) -> str:
    from scipy import stats

    k, n = int(flags.sum()), len(flags)
    low, high = stats.binomtest(k, n).proportion_ci(method="wilson")
    return f"{100 * k / n:.1f} % ({100 * low:.1f}-{100 * high:.1f}), {k} of {n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REFERENCE)
    parser.add_argument("--programmes", type=int, default=100)
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-simulation", action="store_true")
    parser.add_argument("--london", action="store_true", help="also the held-out London boroughs")
    args = parser.parse_args()
    started = time.perf_counter()
    pd.set_option("display.width", 160)

    if not args.skip_simulation:
        from pipeline.validation.pooling import pooling_check

        print(f"1. Null programmes with a shared donor pool ({args.replicates} replicates)")
        print(pooling_check(args.replicates).summary().to_string(index=False), flush=True)
        for municipalities, sd in ((3, 0.15), (4, 0.15)):
            print(
                f"\n1b. {municipalities} municipalities whose effects differ (log SD {sd}) around a "
                f"15 % drop ({args.replicates} replicates): coverage of the programme's effect"
            )
            check = pooling_check(
                args.replicates,
                effect=0.85,
                municipality_effect_sd=sd,
                municipalities=municipalities,
            )
            print(check.summary().to_string(index=False), flush=True)

    if args.data.is_dir():
        print(f"\n2. Null pseudo-programmes on Brå's series ({args.programmes}): 4 municipalities")
        _print_family(real_series(args.data, args.programmes), 5)
    else:
        print(f"\n2. skipped: no Brå data at {args.data}")
    london = args.data.parent / "london_mps_borough_2008_2016"
    if args.london and london.is_dir():
        print(f"\n2b. Held out, not tuned to: London boroughs ({args.programmes} programmes)")
        _print_family(london_series(london, args.programmes), 5)

    if not args.skip_demo:
        from pipeline.validation.demo_truth import demo_truth_calls

        calls = demo_truth_calls(range(1000, 1000 + args.seeds))
        print(f"\n3. The demo regenerated from {args.seeds} seeds: calls in line with the truth")
        print(calls.by_unit().to_string())
        print(f"   all units: {_rate(calls.table['right'])}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
