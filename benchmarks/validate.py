"""Validation of the designs: published analyses, simulation with a known truth, real data, speed.

Prints one table per check and its own run time. Sections that need the public
reference data (``../shared/reference``) say so and are skipped without it.

Usage: python benchmarks/validate.py [--replicates N] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.designs import ControlledComparison, DonorComparison, InterruptedTimeSeries, PrePost  # noqa: E402
from pipeline.designs.controlled import fit_conditional_binomial  # noqa: E402
from pipeline.designs.donor import fit_donor_comparison  # noqa: E402
from pipeline.designs.its import fit_its  # noqa: E402
from pipeline.inputs.prepare import validate_study  # noqa: E402
from pipeline.methods.displacement import wdd  # noqa: E402
from pipeline.validation import calibration as cal  # noqa: E402
from pipeline.validation.simulation import design_coverage  # noqa: E402

REFERENCE = REPO.parent / "shared" / "reference"


def _table(title: str, frame: pd.DataFrame) -> None:
    print(f"\n## {title}\n")
    print(frame.to_string(index=False))


def published() -> None:
    rows = []
    sicily = REFERENCE / "lopezbernal_2017_sicily" / "sicily.csv"
    if sicily.is_file():
        data = pd.read_csv(sicily)
        periods = pd.PeriodIndex(
            [
                pd.Period(year=y, month=m, freq="M")
                for y, m in zip(data["year"], data["month"], strict=True)
            ]
        )
        for label, pairs, inference, published_values in (
            ("Lopez Bernal 2017: Poisson ITS", 0, "poisson", (0.894, 0.865, 0.925)),
            (
                "Lopez Bernal 2017: quasi-Poisson + harmonics",
                2,
                "quasipoisson",
                (0.885, 0.839, 0.933),
            ),
        ):
            fit = fit_its(
                data["aces"].to_numpy(),
                periods,
                pd.Period("2005-01", freq="M"),
                exposure=data["stdpop"].to_numpy(),
                harmonic_pairs=pairs,
                inference=inference,
                reference="normal",
            )
            rows.append(
                (
                    label,
                    "{:.3f} ({:.3f}-{:.3f})".format(*published_values),
                    f"{fit.rate_ratio:.3f} ({fit.ci_low:.3f}-{fit.ci_high:.3f})",
                )
            )
    else:
        rows.append(("Lopez Bernal 2017", "reference data absent", "skipped"))
    # Wheeler & Ratcliffe (2018) worked example: T 207->110, Ct 308->318, D 178->157, Cd 150->140.
    test = wdd((207, 110), (308, 318), (178, 157), (150, 140))
    rows.append(
        (
            "Wheeler & Ratcliffe 2018: WDD",
            "-118, SE 39.6, z -2.98",
            f"{test.estimate:.0f}, SE {test.se:.1f}, z {test.z:.2f}",
        )
    )
    _table("Published analyses", pd.DataFrame(rows, columns=["check", "published", "pipeline"]))


def simulation(replicates: int) -> None:
    frames = []
    designs = (DonorComparison(), ControlledComparison(), InterruptedTimeSeries(), PrePost())
    for drift in (True, False):
        for design in designs:
            for truth in (0.8, 1.0):
                result = design_coverage(
                    design, replicates=replicates, effect=truth, seed=2020, drift=drift, n_donors=20
                )
                frames.append(result.to_frame().assign(drift=drift))
    frame = pd.concat(frames, ignore_index=True)
    for column in ("coverage", "mean_log_bias", "median_estimate", "rejection_rate"):
        frame[column] = frame[column].round(3)
    _table(
        f"Simulation from the demo model ({replicates} replicates; target 14 crimes/month, "
        "1 control, 20 donors; drift = each area's own random walk)",
        frame[
            [
                "design",
                "drift",
                "truth",
                "replicates",
                "failed",
                "coverage",
                "mean_log_bias",
                "median_estimate",
                "rejection_rate",
            ]
        ],
    )


def real_data(quick: bool) -> None:
    folder = REFERENCE / "bra_monthly_2013_2016"
    if not folder.is_dir():
        print("\n## Real-data calibration\n\nreference data absent: skipped")
        return
    from pipeline.inputs.bra import TOTAL, read_bra_folder

    frame = read_bra_folder(folder)
    rows = frame[frame["category"] == TOTAL]
    series = {
        name: g[["period", "count"]].reset_index(drop=True)
        for name, g in rows.groupby("municipality")
    }
    if quick:
        names = sorted(series)[::4]
        series = {n: series[n] for n in names}

    def its(counts, exposure, periods, start):
        fit = fit_its(counts, periods, start, exposure=exposure, shocks=(), drift=True)
        return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value

    def its_plain(counts, exposure, periods, start):
        fit = fit_its(counts, periods, start, exposure=exposure, shocks=())
        return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value

    def controlled(target, control, periods, start):
        post = (periods >= start).astype(float)
        fit = fit_conditional_binomial(target, control, post, trend=True, drift=True)
        return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value

    def controlled_plain(target, control, periods, start):
        fit = fit_conditional_binomial(target, control, (periods >= start).astype(float))
        return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value

    def donor(target, donors, periods, start):
        fit = fit_donor_comparison(target, donors, periods, start)
        return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value

    results = [
        (
            "donor_comparison, 20 nearest municipalities (primary with a donor pool)",
            cal.controlled_placebo_rejection_rate(
                series, donor, n_controls=20, pool_factor=1, pooled=False
            ),
        ),
        ("its, drift-calibrated (pipeline default)", cal.placebo_rejection_rate(series, its)),
        (
            "its, quasi-Poisson without drift variance",
            cal.placebo_rejection_rate(series, its_plain),
        ),
        (
            "controlled, trend + drift (pipeline default), 1 similar municipality",
            cal.controlled_placebo_rejection_rate(series, controlled, n_controls=1),
        ),
        (
            "controlled, trend + drift, 10 pooled municipalities",
            cal.controlled_placebo_rejection_rate(series, controlled, n_controls=10),
        ),
        (
            "controlled without trend and drift, 1 similar municipality",
            cal.controlled_placebo_rejection_rate(series, controlled_plain, n_controls=1),
        ),
    ]
    table = pd.DataFrame(
        [
            (
                label,
                f"{100 * r.rejection_rate:.1f} %",
                f"{100 * r.ci_low:.1f}-{100 * r.ci_high:.1f} %",
                r.n_tests,
            )
            for label, r in results
        ],
        columns=["design", "placebo false-positive rate", "95 % CI", "tests"],
    )
    _table(
        "Real-data calibration: placebo interventions in Brå series 2013-2016, alpha 0.05 (goal 5 %, limit 10 %)",
        table,
    )


def speed() -> None:
    from pipeline.evaluation.municipality import evaluate_municipality, evaluate_target
    from pipeline.inputs.prepare import StudyData

    study, series = validate_study(REPO / "data" / "raw" / "trygga_platser_demo")
    data = StudyData(study, series, {"study_name": "demo", "inputs": {}})
    place = study.place("sala_stationen")
    started = time.perf_counter()
    for _ in range(5):
        evaluate_target(data, place, "crimes_total")
    one = (time.perf_counter() - started) / 5
    started = time.perf_counter()
    for municipality in study.municipality_names:
        evaluate_municipality(data, municipality)
    whole = time.perf_counter() - started
    from pipeline.designs.panel import panel_effects

    started = time.perf_counter()
    for _ in range(3):
        panel_effects(data, "crimes_violence", study.targets("Sala"))
    panel = (time.perf_counter() - started) / 3
    rows = [
        ("all designs, one target and indicator (Sala station, with buffer)", f"{one:.3f} s"),
        ("panel of one municipality's targets (Sala, 4 targets)", f"{panel:.3f} s"),
        ("demo study statistics, 10 targets x 4 indicators, no notebooks", f"{whole:.2f} s"),
    ]
    bra = REFERENCE / "bra_monthly_2013_2016"
    if bra.is_dir():
        from pipeline.inputs.bra import read_bra_folder

        started = time.perf_counter()
        read_bra_folder(bra)
        rows.append(
            (
                "Brå reader, 290 municipalities x 10 categories x 48 months",
                f"{time.perf_counter() - started:.2f} s",
            )
        )
    _table("Speed", pd.DataFrame(rows, columns=["what", "time"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument(
        "--quick", action="store_true", help="fewer replicates and a quarter of the municipalities"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    published()
    simulation(100 if args.quick else args.replicates)
    real_data(args.quick)
    speed()
    print(f"\nvalidate.py ran in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
