"""Validation of the designs: published analyses, simulation with a known truth, real data, speed.

Prints one table per check and its own run time. Sections that need the public
reference data (``../shared/reference``) say so and are skipped without it.

Usage: python benchmarks/validate.py [--replicates N] [--quick] [--sections S,...] [--designs D,...]
                                    [--window B+A]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.designs import (  # noqa: E402
    ControlledComparison,
    DonorComparison,
    InterruptedTimeSeries,
    PrePost,
)
from pipeline.designs.base import DesignData  # noqa: E402
from pipeline.designs.controlled import fit_conditional_binomial  # noqa: E402
from pipeline.designs.donor import fit_donor_comparison  # noqa: E402
from pipeline.designs.its import InterruptedTimeSeriesRank, fit_its  # noqa: E402
from pipeline.inputs.prepare import validate_study  # noqa: E402
from pipeline.inputs.study import Place  # noqa: E402
from pipeline.methods.displacement import wdd  # noqa: E402
from pipeline.validation import calibration as cal  # noqa: E402
from pipeline.validation.simulation import TOTAL as TOTAL_INDICATOR  # noqa: E402
from pipeline.validation.simulation import (  # noqa: E402
    PlaceScenario,
    SparseScenario,
    design_coverage,
    place_coverage,
    pooled_did_coverage,
    pooled_did_level,
)

REFERENCE = REPO.parent / "shared" / "reference"
HELD_OUT_FOLDERS = (
    "bra_monthly_2013_2016",
    "london_mps_borough_2008_2016",
    "us_rtci_agencies_2018_2024",
)


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
            f"{test.estimate:.0f}, SE {test.std_error:.1f}, z {test.z:.2f}",
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
        fit = fit_its(
            counts, periods, start, exposure=exposure, shocks=(), drift=True, placebo=False
        )
        return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value

    def its_plain(counts, exposure, periods, start):
        fit = fit_its(counts, periods, start, exposure=exposure, shocks=())
        return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value

    def controlled(target, control, periods, start):
        post = (periods >= start).astype(float)
        fit = fit_conditional_binomial(target, control, post, trend=True, drift=True, placebo=False)
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
        (
            "its, random-walk drift (pipeline default; never primary)",
            cal.placebo_rejection_rate(series, its),
        ),
        (
            "its, quasi-Poisson without drift variance",
            cal.placebo_rejection_rate(series, its_plain),
        ),
        (
            "controlled, trend + random-walk drift (pipeline default), 1 similar municipality",
            cal.controlled_placebo_rejection_rate(series, controlled, n_controls=1),
        ),
        (
            "controlled, trend + random-walk drift, 10 pooled municipalities",
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


# --------------------------------------------------------------------------- real data by size band

ALPHA = 0.05
SIZE_BANDS = (0.0, 20.0, 100.0, float("inf"))
SIZE_LABELS = ("< 20", "20-100", ">= 100")
#: Fake starts: Brå's 48 months as in the calibration the defaults were tuned with; the
#: held-out series (London 108 months, US 79) from 24 months before, every 6 months.
#: Brå's totals have few series below 20 a month: three of its crime categories (tuning
#: data too) test the comparison designs at place-sized counts.
PROTOCOLS = {
    "Brå": {"min_pre": 18, "min_post": 12, "step": 3},
    "Brå categories": {"min_pre": 18, "min_post": 12, "step": 6},
    "London": {"min_pre": 24, "min_post": 12, "step": 6},
    "US": {"min_pre": 24, "min_post": 12, "step": 6},
}


def _its(counts, exposure, periods, start):
    fit = fit_its(counts, periods, start, exposure=exposure, drift=True, placebo=False)
    return fit.rate_ratio, fit.ci_low, fit.ci_high, fit.p_value


def _its_rank(counts, exposure, periods, start):
    frame = pd.DataFrame({"value": counts, "exposure": 1.0}, index=periods)
    data = DesignData(
        municipality="",
        place=Place(id="t", name="t", municipality="", role="target"),
        indicator=TOTAL_INDICATOR,
        start=start,
        target=frame,
    )
    effect = InterruptedTimeSeriesRank().estimate(data)
    return effect.estimate, effect.ci_low, effect.ci_high, effect.p_value


def _prepost(counts, exposure, periods, start):
    post = (periods >= start).astype(float)
    exog = np.column_stack([np.ones(len(counts)), post])
    result = sm.GLM(counts, exog, family=sm.families.Poisson()).fit(scale="X2")
    if result.scale < 1:
        result = sm.GLM(counts, exog, family=sm.families.Poisson()).fit(scale=1.0)
    coef, se, df = result.params[1], result.bse[1], result.df_resid
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    p = 2 * stats.t.sf(abs(coef / se), df)
    return np.exp(coef), np.exp(coef - crit * se), np.exp(coef + crit * se), p


def _controlled(target, control, periods, start):
    fit = fit_conditional_binomial(
        target, control, (periods >= start).astype(float), trend=True, drift=True, placebo=False
    )
    return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value


def _controlled_learnt(target, control, periods, start):
    fit = fit_conditional_binomial(
        target,
        control,
        (periods >= start).astype(float),
        trend=True,
        drift=True,
        drift_variance="learnt",
        placebo=False,
    )
    return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value


def _donor(target, donors, periods, start):
    fit = fit_donor_comparison(target, donors, periods, start)
    return fit.ratio, fit.ci_low, fit.ci_high, fit.p_value


#: Design label, kind (single series, pooled controls or a donor panel), estimator, controls.
BAND_DESIGNS = {
    "donor": ("donor-pool comparison, 20 nearest in size", "panel", _donor, 20),
    "controlled": ("controlled comparison, 2 pooled controls (default)", "pooled", _controlled, 2),
    "controlled_learnt": (
        "controlled comparison, drift variance learnt per series (option)",
        "pooled",
        _controlled_learnt,
        2,
    ),
    "its_rank": ("time series, placebo rank test (>= 20 fake starts)", "single", _its_rank, 0),
    "its": ("time series, random-walk drift (default)", "single", _its, 0),
    "prepost": ("pre/post, quasi-Poisson (reference)", "single", _prepost, 0),
}


#: Brå's categories for place-sized counts: violence, criminal damage, vehicle crime.
BRA_CATEGORIES = ("Våldsbrott", "Skadegörelsebrott (inkl. mordbrand)", "Bilbrott")


def _panels(name: str) -> dict[str, dict[str, pd.DataFrame]]:
    if name.startswith("Brå"):
        from pipeline.inputs.bra import TOTAL, read_bra_folder

        frame = read_bra_folder(REFERENCE / "bra_monthly_2013_2016")
        categories = BRA_CATEGORIES if name == "Brå categories" else (TOTAL,)
        return {
            category: {
                m: g[["period", "count"]].reset_index(drop=True)
                for m, g in frame[frame["category"] == category].groupby("municipality")
            }
            for category in categories
        }
    if name == "London":
        return cal.read_london_boroughs(REFERENCE / "london_mps_borough_2008_2016")
    return cal.read_us_agencies(REFERENCE / "us_rtci_agencies_2018_2024")


def _band_job(job: tuple[str, str, bool, tuple[int, int] | None]) -> pd.DataFrame:
    data_name, design, quick, window = job
    warnings.simplefilter("ignore")
    _, kind, estimator, n_controls = BAND_DESIGNS[design]
    protocol = dict(PROTOCOLS[data_name])
    if data_name == "Brå categories" and kind == "single":
        # The categories check the comparison designs at place-sized counts only.
        return pd.DataFrame()
    if design == "its_rank":
        if data_name == "Brå" or (window is not None and window[0] < 38):
            # 20 placebos take 38 months before a fake start; Brå's 48 months leave at most 36.
            return pd.DataFrame()
        # Every rank test refits the step at each of its own fake starts: fewer starts, shorter run.
        protocol["step"] = 12
    frames = []
    for category, series in _panels(data_name).items():
        if quick and data_name.startswith("Brå"):
            series = {u: series[u] for u in sorted(series)[::3]}
        common = {"alpha": ALPHA, "seed": 2013, "window": window, **protocol}
        if kind == "single":
            placebo = cal.placebo_rejection_rate(series, estimator, **common)
            power = cal.injected_effect_power(
                series, estimator, rate_ratio=0.8, min_mean=0.0, **common
            )
        else:
            controls = {"n_controls": n_controls, "pooled": kind == "pooled"}
            if kind == "panel":
                controls["pool_factor"] = 1
            placebo = cal.controlled_placebo_rejection_rate(series, estimator, **common, **controls)
            power = cal.controlled_injected_effect_power(
                series, estimator, rate_ratio=0.8, min_mean=0.0, **common, **controls
            )
        sizes = {u: float(f["count"].mean()) for u, f in series.items()}
        for kind_name, result, failed in (
            ("placebo", placebo.results, placebo.n_failed),
            ("injected", power.results, power.n_failed),
        ):
            frames.append(
                result.assign(
                    size=result["unit"].map(sizes),
                    test=kind_name,
                    category=category,
                    failed=failed,
                )
            )
    return pd.concat(frames, ignore_index=True).assign(data=data_name, design=design)


def band_summary(results: pd.DataFrame) -> pd.DataFrame:
    """False positives, coverage of the injected 0.8 and power, by data set, design and size band."""
    results = results.dropna(subset=["size"])
    results = results.assign(
        band=pd.cut(results["size"], SIZE_BANDS, right=False, labels=SIZE_LABELS)
    )
    rows = []
    for (design, band, data_name), group in results.groupby(
        ["design", "band", "data"], observed=True, sort=False
    ):
        placebo = group[group["test"] == "placebo"]
        injected = group[group["test"] == "injected"]
        rows.append(
            {
                "design": design,
                "band": band,
                "data": data_name,
                "tests": len(placebo),
                "false_pos": 100 * placebo["rejected"].mean() if len(placebo) else np.nan,
                "coverage": 100 * injected["covered"].mean() if len(injected) else np.nan,
                "power": 100 * injected["detected"].mean() if len(injected) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def band_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per design and size band, one column per data set: "false pos / coverage / power (tests)"."""
    cells = summary.assign(
        cell=[
            f"{r.false_pos:4.1f} / {r.coverage:5.1f} / {r.power:4.1f} ({r.tests})"
            for r in summary.itertuples()
        ]
    )
    table = cells.pivot_table(
        index=["design", "band"], columns="data", values="cell", aggfunc="first", observed=True
    ).reindex(columns=list(PROTOCOLS))
    table = table.reset_index()
    design_order = {d: i for i, d in enumerate(BAND_DESIGNS)}
    band_order = {b: i for i, b in enumerate(SIZE_LABELS)}
    table = table.assign(
        _d=table["design"].map(design_order), _b=table["band"].astype(str).map(band_order)
    ).sort_values(["_d", "_b"])
    table["design"] = table["design"].map(lambda d: BAND_DESIGNS[d][0])
    return table.drop(columns=["_d", "_b"]).fillna("-")


def real_data_by_band(
    quick: bool,
    jobs: int,
    designs: tuple[str, ...] = tuple(BAND_DESIGNS),
    window: tuple[int, int] | None = None,
) -> None:
    """The band table; with ``window`` (before, after) each test sees only those months."""
    if not all((REFERENCE / f).is_dir() for f in HELD_OUT_FOLDERS):
        print("\n## Real data by size band\n\nreference data absent: skipped")
        return
    from concurrent.futures import ProcessPoolExecutor

    work = [(d, g, quick, window) for g in designs for d in PROTOCOLS]
    with ProcessPoolExecutor(jobs) as pool:
        results = pd.concat(list(pool.map(_band_job, work)), ignore_index=True)
    table = band_table(band_summary(results))
    _table(
        "Real data by size band (crimes a month): false positives % / coverage of an injected "
        "0.8 % / power % (placebo tests); Brå tuned, London and US held out"
        + (" (quick: every 3rd Brå municipality)" if quick else "")
        + (
            f"; each test sees {window[0]} months before its fake start and {window[1]} after"
            if window
            else ""
        ),
        table,
    )


# --------------------------------------------------------------------------- place-scale simulation


class _LearntDriftComparison(ControlledComparison):
    """The controlled comparison with its drift variance learnt per series."""

    name = "controlled_learnt"

    def estimate(self, data: DesignData):
        analysis = data.analysis.model_copy(
            update={
                "controlled": data.analysis.controlled.model_copy(
                    update={"drift_variance": "learnt"}
                )
            }
        )
        return super().estimate(dataclasses.replace(data, analysis=analysis))


#: The design that is primary at a place with control areas (the time series is never
#: primary), with the drift rule on trial beside it.
PLACE_DESIGNS = {"controlled": ControlledComparison, "controlled_learnt": _LearntDriftComparison}


def _place_job(job: tuple[PlaceScenario, str, float, int]) -> dict:
    scenario, design, effect, replicates = job
    warnings.simplefilter("ignore")
    return place_coverage(PLACE_DESIGNS[design](), scenario, replicates=replicates, effect=effect)


def place_scale(
    replicates: int, jobs: int, designs: tuple[str, ...] = tuple(PLACE_DESIGNS)
) -> None:
    from concurrent.futures import ProcessPoolExecutor

    scenarios = [
        PlaceScenario(level=level, n_pre=n_pre, n_controls=k, overdispersed=noisy, drift=noisy)
        for level in (2.0, 5.0, 20.0)
        for n_pre in (18, 36)
        for k in (1, 3)
        for noisy in (False, True)
    ]
    work = [(s, d, e, replicates) for s in scenarios for d in designs for e in (1.0, 0.75)]
    with ProcessPoolExecutor(jobs) as pool:
        rows = pd.DataFrame(list(pool.map(_place_job, work)))
    null = rows[rows["truth"] == 1.0].set_index(["scenario", "design"])
    alt = rows[rows["truth"] == 0.75].set_index(["scenario", "design"])
    table = pd.DataFrame(
        {
            "false_pos %": (100 * null["rejection_rate"]).round(1),
            "coverage 1.0 %": (100 * null["coverage"]).round(1),
            "coverage 0.75 %": (100 * alt["coverage"]).round(1),
            "power vs 0.75 %": (100 * alt["rejection_rate"]).round(1),
            "median CI ratio": null["median_ratio"].round(1),
            "refused": null["failed"] + alt["failed"],
            "CI and p disagree": null["discordant"] + alt["discordant"],
        }
    ).reset_index()
    _table(
        f"Place-scale simulation ({replicates} replicates each; 12 months after the start; "
        "goal: coverage 93-97 %, false positives <= 7 %)",
        table,
    )


# --------------------------------------------------------------------------- sparse panels

#: Simulated sparse panels for the pooled difference-in-differences (5 targets, 15 areas).
SPARSE_SCENARIOS = (
    SparseScenario(),
    SparseScenario(overdispersion=0.5),
    SparseScenario(overdispersion=0.3, drift=0.05),
    SparseScenario(mean=0.5, overdispersion=0.3),
    SparseScenario(n_targets=3, n_controls=10, months=12, n_pre=6, overdispersion=0.3),
)


def _sparse_job(job: tuple[SparseScenario, float, int]) -> dict:
    scenario, effect, replicates = job
    warnings.simplefilter("ignore")
    return pooled_did_coverage(scenario, replicates=replicates, effect=effect, seed=2004)


def _sparse_level_job(job: tuple[SparseScenario, float, int]) -> dict:
    scenario, effect, replicates = job
    warnings.simplefilter("ignore")
    return pooled_did_level(scenario, replicates=replicates, effect=effect, seed=2004)


def _sparse_real_job(job: tuple[str, int]) -> pd.DataFrame:
    import calibrate_sparse_panel as sparse

    name, groups = job
    warnings.simplefilter("ignore")
    loader = {"Brå": sparse.bra_series, "London": sparse.london_series, "US": sparse.us_series}
    rng = np.random.default_rng(sparse.SEED)
    studies = sparse.pseudo_studies(loader[name](), 5, 15, groups, rng)
    rows = [r for s in studies for r in sparse.run_study(s, 199, rng, designs=("pooled_did",))]
    return pd.DataFrame(rows).assign(data=name)


def sparse_panels(replicates: int, level_replicates: int, groups: int, jobs: int) -> None:
    """The pooled difference-in-differences: simulation with a known truth, then real series.

    The fits with their intervals on ``replicates`` per scenario; the test alone
    (its p-value at the true ratio, which the interval inverts) on
    ``level_replicates``, whose first ones are the fits' replicates.
    """
    from concurrent.futures import ProcessPoolExecutor

    work = [(s, e, replicates) for s in SPARSE_SCENARIOS for e in (1.0, 0.7)]
    level_work = [(s, e, level_replicates) for s in SPARSE_SCENARIOS for e in (1.0, 0.7)]
    with ProcessPoolExecutor(jobs) as pool:
        rows = pd.DataFrame(list(pool.map(_sparse_job, work)))
        levels = pd.DataFrame(list(pool.map(_sparse_level_job, level_work)))
    null = rows[rows["truth"] == 1.0].set_index("scenario")
    alt = rows[rows["truth"] == 0.7].set_index("scenario")
    table = pd.DataFrame(
        {
            "false_pos %": (100 * null["rejection_rate"]).round(1),
            "coverage 1.0 %": (100 * null["coverage"]).round(1),
            "coverage 0.7 %": (100 * alt["coverage"]).round(1),
            "power vs 0.7 %": (100 * alt["rejection_rate"]).round(1),
            "median CI ratio": null["median_ratio"].round(1),
            "refused": null["failed"] + alt["failed"],
            "CI and p disagree": null["discordant"] + alt["discordant"],
        }
    ).reset_index()
    _table(
        f"Pooled difference-in-differences, simulated sparse panels ({replicates} replicates "
        "each, 199 randomisation draws; goal: coverage 93-97 %, false positives <= 7 %)",
        table,
    )
    null = levels[levels["truth"] == 1.0].set_index("scenario")
    alt = levels[levels["truth"] == 0.7].set_index("scenario")
    _table(
        f"Pooled difference-in-differences, its randomisation test alone ({level_replicates} "
        "replicates each, 199 draws, p-value at the true ratio; an exact test gives "
        "P(p <= a) <= a, and P(p < 0.05) = 4.5 % with 199 draws)",
        pd.DataFrame(
            {
                "p < 0.05 %": (100 * null["rejection_rate"]).round(2),
                "p <= 0.01 %": (100 * null["at_most_01"]).round(2),
                "p <= 0.05 %": (100 * null["at_most_05"]).round(2),
                "p <= 0.10 %": (100 * null["at_most_10"]).round(2),
                "coverage 1.0 %": (100 * (1 - null["rejection_rate"])).round(2),
                "coverage 0.7 %": (100 * (1 - alt["rejection_rate"])).round(2),
                "refused": null["failed"] + alt["failed"],
            }
        ).reset_index(),
    )
    if not all((REFERENCE / f).is_dir() for f in HELD_OUT_FOLDERS):
        print(
            "\n## Pooled difference-in-differences on real series\n\nreference data absent: skipped"
        )
        return
    with ProcessPoolExecutor(jobs) as pool:
        results = pd.concat(
            list(pool.map(_sparse_real_job, [(d, groups) for d in ("Brå", "London", "US")])),
            ignore_index=True,
        )
    rows = []
    for (data_name, band), group in results.groupby(["data", "band"], sort=False):
        fitted = group[~group["refused"]]
        null, alt = fitted[fitted["truth"] == 1.0], fitted[fitted["truth"] != 1.0]
        covered = (alt["ci_low"] <= 0.8) & (alt["ci_high"] >= 0.8)
        rows.append(
            {
                "data": data_name,
                "band": band,
                "studies": int((group["truth"] == 1.0).sum()),
                "refused": int(group["refused"].sum()),
                "false positives": f"{int((null['p_value'] < ALPHA).sum())} of {len(null)}",
                "coverage of 0.8 %": round(100 * covered.mean(), 1) if len(alt) else np.nan,
                "power %": round(100 * ((alt["p_value"] < ALPHA) & (alt["ratio"] < 1)).mean(), 1)
                if len(alt)
                else np.nan,
                "CI and p disagree": int(
                    (
                        (fitted["p_value"] < ALPHA)
                        == ((fitted["ci_low"] <= 1.0) & (fitted["ci_high"] >= 1.0))
                    ).sum()
                ),
            }
        )
    _table(
        "Pooled difference-in-differences on real series: pseudo-studies of 5 targets and 15 "
        f"size neighbours in one crime category, 24 months before a fake start and 12 after "
        f"({groups} per size band); Brå tuned, London and US held out",
        pd.DataFrame(rows),
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


def _window(text: str) -> tuple[int, int]:
    """``"36+12"`` as (36, 12): months before a fake start and from it."""
    before, plus, after = text.partition("+")
    if not (plus and before.strip().isdigit() and after.strip().isdigit()):
        raise argparse.ArgumentTypeError(f"expected B+A in months, e.g. 36+12, not {text!r}")
    return int(before), int(after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument(
        "--quick", action="store_true", help="fewer replicates and a quarter of the municipalities"
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes for the long sections")
    parser.add_argument(
        "--sections",
        default="published,simulation,places,sparse,real,bands,speed",
        help="comma-separated subset of published,simulation,places,sparse,real,bands,speed",
    )
    parser.add_argument(
        "--designs",
        default=None,
        help="comma-separated designs of the bands and places sections (default: all bands "
        "designs, the default controlled comparison for places); "
        f"bands: {','.join(BAND_DESIGNS)}; places: {','.join(PLACE_DESIGNS)}",
    )
    parser.add_argument(
        "--window",
        type=_window,
        default=None,
        metavar="B+A",
        help="bands: each placebo test sees only the B months before its fake start and the A "
        "months from it (fake starts as the protocol has them, where the window fits)",
    )
    args = parser.parse_args()
    chosen = None if args.designs is None else tuple(args.designs.split(","))
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    sections = set(args.sections.split(","))
    if "published" in sections:
        published()
    if "simulation" in sections:
        simulation(100 if args.quick else args.replicates)
    if "places" in sections:
        place_scale(
            60 if args.quick else 400,
            args.jobs,
            # The option doubles the section's run time: only when asked for.
            tuple(d for d in (chosen or ("controlled",)) if d in PLACE_DESIGNS),
        )
    if "sparse" in sections:
        sparse_panels(
            100 if args.quick else 300,
            300 if args.quick else 1000,
            10 if args.quick else 25,
            args.jobs,
        )
    if "real" in sections:
        real_data(args.quick)
    if "bands" in sections:
        real_data_by_band(
            args.quick,
            args.jobs,
            tuple(d for d in (chosen or BAND_DESIGNS) if d in BAND_DESIGNS),
            args.window,
        )
    if "speed" in sections:
        speed()
    print(f"\nvalidate.py ran in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
