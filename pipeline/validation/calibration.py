"""Check interrupted-time-series inference on real series where nothing happened.

A method for an interrupted time series (ITS) promises that, with no effect,
it calls a change significant at level alpha in a share alpha of cases. On
real crime series that promise is easily broken: the counts are
overdispersed, neighbouring months are correlated, and levels drift for
reasons no linear trend captures. This module measures the promise instead
of assuming it:

- :func:`placebo_rejection_rate` puts fake intervention starts into real
  series and counts how often the method rejects "no change";
- :func:`injected_effect_power` multiplies the real post-period counts by a
  known rate ratio (binomial thinning, so counts stay whole and the real
  noise stays) and counts how often the method finds it, and how often its
  confidence interval covers it;
- :func:`controlled_placebo_rejection_rate` and
  :func:`controlled_injected_effect_power` do the same for a comparison
  design, with other real municipalities as the control.

Estimators are plain functions, so any method can be checked::

    estimator(counts, exposure, periods, start) -> (rate_ratio, ci_low, ci_high, p_value)
    estimator_controlled(target_counts, control_counts, periods, start) -> (same)

Counts arrive as float64 arrays of whole numbers (thinned ones too), a fresh
copy per call; a test rejects when ``p_value < alpha``.

Several fake starts are placed in each series, so the tests are not
independent; besides the binomial (Wilson) interval, results carry an
interval that treats each unit as a cluster.

One harness (over 500 lines) for the single-series and the controlled
designs: both share the placebo starts, the thinning and the summaries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..methods.arguments import check_probability
from ..methods.proportions import wilson_interval as proportion_interval

Estimate = tuple[float, float, float, float]
Estimator = Callable[[np.ndarray, "np.ndarray | None", pd.PeriodIndex, pd.Period], Estimate]
ControlledEstimator = Callable[[np.ndarray, np.ndarray, pd.PeriodIndex, pd.Period], Estimate]

RESULT_COLUMNS = [
    "unit",
    "start",
    "n_pre",
    "n_post",
    "rate_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "rejected",
]


@dataclass(frozen=True, eq=False)
class PlaceboResult:
    """How often a method rejects "no change" at fake intervention starts.

    Attributes
    ----------
    alpha : float
        Nominal level of the tests.
    rejection_rate : float
        Share of successful tests with p < alpha (the false-positive rate).
    ci_low, ci_high : float
        Wilson 95 % interval of the rejection rate, treating tests as independent.
    cluster_ci_low, cluster_ci_high : float
        95 % interval that treats the tests of one unit as a cluster (wider
        when fake starts in one series tend to agree).
    n_tests : int
        Successful tests.
    n_units : int
        Units with at least one successful test.
    n_failed : int
        Tests where the estimator raised or returned a non-finite p-value.
    skipped : tuple of str
        Units left out, with the reason.
    results : pandas.DataFrame
        One row per test: ``unit``, ``start``, ``n_pre``, ``n_post``,
        ``rate_ratio``, ``ci_low``, ``ci_high``, ``p_value``, ``rejected``
        (and ``controls`` in the controlled design).
    """

    alpha: float
    rejection_rate: float
    ci_low: float
    ci_high: float
    cluster_ci_low: float
    cluster_ci_high: float
    n_tests: int
    n_units: int
    n_failed: int
    skipped: tuple[str, ...]
    results: pd.DataFrame


@dataclass(frozen=True, eq=False)
class PowerResult:
    """How often a method finds an effect injected into real series.

    Attributes
    ----------
    true_rate_ratio : float
        The injected rate ratio.
    alpha : float
        Nominal level of the tests.
    detection_rate : float
        Share of successful tests that are significant and on the same side
        of 1 as the true ratio.
    ci_low, ci_high : float
        Wilson 95 % interval of the detection rate.
    coverage : float
        Share of confidence intervals that contain the true ratio.
    coverage_ci_low, coverage_ci_high : float
        Wilson 95 % interval of the coverage.
    median_rate_ratio : float
        Median of the estimated rate ratios.
    n_tests, n_units, n_failed : int
        As in :class:`PlaceboResult`.
    skipped : tuple of str
        Units left out (too small, missing counts ...), with the reason.
    results : pandas.DataFrame
        As in :class:`PlaceboResult`, plus ``detected`` and ``covered``.
    """

    true_rate_ratio: float
    alpha: float
    detection_rate: float
    ci_low: float
    ci_high: float
    coverage: float
    coverage_ci_low: float
    coverage_ci_high: float
    median_rate_ratio: float
    n_tests: int
    n_units: int
    n_failed: int
    skipped: tuple[str, ...]
    results: pd.DataFrame


# --------------------------------------------------------------------------- helpers


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion, from counts.

    The counts form of :func:`pipeline.methods.proportions.wilson_interval`.

    Parameters
    ----------
    successes, n : int
        Successes and trials.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    tuple of float
        Lower and upper limit; ``(nan, nan)`` when ``n`` is 0.
    """
    if n <= 0:
        return (math.nan, math.nan)
    lower, upper = proportion_interval(successes / n, n, level=level)
    return (float(lower), float(upper))


def cluster_interval(
    hits: np.ndarray, clusters: np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    """Interval of a proportion whose trials come in correlated clusters.

    A ratio estimator with a cluster-robust variance (units as clusters),
    clipped to [0, 1].

    Parameters
    ----------
    hits : numpy.ndarray of bool
        Outcome of each trial.
    clusters : numpy.ndarray
        Cluster label of each trial.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    tuple of float
        Lower and upper limit; ``(nan, nan)`` with fewer than two clusters.
    """
    hits = np.asarray(hits, dtype=float)
    if hits.size == 0:
        return (math.nan, math.nan)
    frame = pd.DataFrame({"h": hits, "c": clusters}).groupby("c")["h"].agg(["sum", "count"])
    g = len(frame)
    if g < 2:
        return (math.nan, math.nan)
    p = frame["sum"].sum() / frame["count"].sum()
    resid = frame["sum"].to_numpy() - p * frame["count"].to_numpy()
    var = g / (g - 1) * np.sum(resid**2) / frame["count"].sum() ** 2
    z = stats.norm.ppf(0.5 + level / 2)
    half = z * math.sqrt(var)
    return (max(0.0, p - half), min(1.0, p + half))


def thin_counts(
    counts: np.ndarray, keep: float | np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Binomial thinning: keep each counted event with probability ``keep``.

    ``Binomial(y, keep)`` has expectation ``keep × y`` given ``y``, stays an
    integer, and keeps the series' own noise (its overdispersion and
    autocorrelation shrink with the counts instead of being replaced by
    synthetic noise).

    Parameters
    ----------
    counts : numpy.ndarray
        Non-negative whole counts.
    keep : float or numpy.ndarray
        Probability in [0, 1], one for all or one per count.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    numpy.ndarray
        Thinned counts, int64.
    """
    y = np.asarray(counts, dtype=float)
    if np.any(~np.isfinite(y)) or np.any(y < 0) or np.any(y != np.round(y)):
        raise ValueError("thin_counts needs non-negative whole counts")
    p = np.broadcast_to(np.asarray(keep, dtype=float), y.shape)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("keep must lie in [0, 1]")
    return rng.binomial(y.astype(np.int64), p).astype(np.int64)


def placebo_starts(
    periods: pd.PeriodIndex, *, min_pre: int = 18, min_post: int = 12, step: int = 3
) -> list[pd.Period]:
    """Fixed grid of fake starts leaving ``min_pre`` and ``min_post`` months.

    Parameters
    ----------
    periods : pandas.PeriodIndex
        Consecutive periods of the series.
    min_pre, min_post : int
        Least number of periods before and from the start.
    step : int, default 3
        Spacing of the grid.

    Returns
    -------
    list of pandas.Period
        The first start leaves exactly ``min_pre`` periods before it.
    """
    last = len(periods) - min_post
    return [periods[i] for i in range(min_pre, last + 1, step)]


@dataclass(frozen=True, eq=False)
class _Series:
    counts: np.ndarray
    exposure: np.ndarray | None
    periods: pd.PeriodIndex


def _prepare(series_by_unit: Mapping[str, pd.DataFrame]) -> tuple[dict[str, _Series], list[str]]:
    """Check each unit's frame; return the usable ones and why others were left out."""
    usable: dict[str, _Series] = {}
    skipped: list[str] = []
    for unit in sorted(series_by_unit):
        frame = series_by_unit[unit]
        missing = {"period", "count"} - set(frame.columns)
        if missing:
            raise ValueError(f"series of {unit!r} lacks column(s) {sorted(missing)}")
        frame = frame.sort_values("period")
        periods = pd.PeriodIndex(frame["period"])
        if len(periods) > 1 and not (np.diff(periods.asi8) == 1).all():
            skipped.append(f"{unit}: periods are not consecutive")
            continue
        counts = pd.to_numeric(frame["count"]).to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(counts).all():
            skipped.append(f"{unit}: missing counts")
            continue
        exposure = None
        if "exposure" in frame.columns:
            exposure = frame["exposure"].to_numpy(dtype=float, na_value=np.nan)
            if not (np.isfinite(exposure).all() and (exposure > 0).all()):
                skipped.append(f"{unit}: missing or non-positive exposure")
                continue
        usable[unit] = _Series(counts, exposure, periods)
    return usable, skipped


def _check_window(window: tuple[int, int] | None, min_pre: int, min_post: int) -> None:
    if window is None:
        return
    before, after = window
    if before < min_pre or after < min_post:
        raise ValueError(
            f"a window of {before}+{after} periods leaves fewer than min_pre={min_pre} "
            f"before or min_post={min_post} from the start"
        )


def _cut(series: _Series, start: pd.Period, window: tuple[int, int] | None) -> _Series:
    """The series' ``before`` periods before ``start`` and ``after`` from it (all without a window)."""
    if window is None:
        return series
    i = series.periods.get_loc(start)
    keep = slice(i - window[0], i + window[1])
    exposure = None if series.exposure is None else series.exposure[keep]
    return _Series(series.counts[keep], exposure, series.periods[keep])


def _starts_for(
    series: _Series,
    starts: Sequence[pd.Period] | int | None,
    min_pre: int,
    min_post: int,
    step: int,
    rng: np.random.Generator,
    window: tuple[int, int] | None = None,
) -> list[pd.Period]:
    periods = series.periods
    if starts is None:
        grid = placebo_starts(periods, min_pre=min_pre, min_post=min_post, step=step)
        if window is None:
            return grid
        # The protocol's grid, kept where the whole window fits around a start.
        return [
            p
            for p in grid
            if periods.get_loc(p) >= window[0] and len(periods) - periods.get_loc(p) >= window[1]
        ]
    if window is not None:
        min_pre, min_post = window
    if isinstance(starts, int | np.integer):
        valid = np.arange(min_pre, len(periods) - min_post + 1)
        if valid.size == 0:
            return []
        take = rng.choice(valid, size=min(int(starts), valid.size), replace=False)
        return [periods[i] for i in np.sort(take)]
    out = []
    for s in starts:
        p = pd.Period(s, freq=periods.freq)
        if p in periods:
            i = periods.get_loc(p)
            if i >= min_pre and len(periods) - i >= min_post:
                out.append(p)
    return out


def _call(estimator, args) -> tuple[Estimate, BaseException | None]:
    try:
        est = tuple(float(v) for v in estimator(*args))
    except Exception as exc:  # one failing fit must not stop a calibration run
        return (math.nan,) * 4, exc
    if len(est) != 4:
        raise ValueError("an estimator must return (rate_ratio, ci_low, ci_high, p_value)")
    return est, None


def _run(
    prepared: dict[str, _Series],
    call: Callable[
        [str, _Series, pd.Period, np.random.Generator], tuple[Estimate, BaseException | None, dict]
    ],
    *,
    starts,
    min_pre: int,
    min_post: int,
    step: int,
    seed: int,
    window: tuple[int, int] | None = None,
) -> tuple[pd.DataFrame, int]:
    rows = []
    n_failed = 0
    first_error: BaseException | None = None
    for unit, whole in prepared.items():
        # One stream per unit, keyed by its name: a unit gets the same drawn
        # starts whichever other units are in the run.
        rng = np.random.default_rng([seed, *unit.encode("utf-8")])
        for start in _starts_for(whole, starts, min_pre, min_post, step, rng, window):
            series = _cut(whole, start, window)
            est, error, extra = call(unit, series, start, rng)
            i = series.periods.get_loc(start)
            if error is not None or not np.isfinite(est[3]):
                n_failed += 1
                first_error = first_error or error
                continue
            rows.append(
                {
                    "unit": unit,
                    "start": start,
                    "n_pre": i,
                    "n_post": len(series.periods) - i,
                    "rate_ratio": est[0],
                    "ci_low": est[1],
                    "ci_high": est[2],
                    "p_value": est[3],
                    **extra,
                }
            )
    if not rows and n_failed:
        raise RuntimeError(f"the estimator failed on every test ({n_failed})") from first_error
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=RESULT_COLUMNS[:-1])
    return frame, n_failed


def _calibrate(
    targets: dict[str, _Series],
    arguments: Callable[[str, _Series, np.ndarray], tuple[tuple, dict]],
    estimator,
    *,
    rate_ratio: float | None,
    alpha: float,
    skipped: list[str],
    starts,
    min_pre: int,
    min_post: int,
    step: int,
    seed: int,
    window: tuple[int, int] | None = None,
) -> PlaceboResult | PowerResult:
    """The estimator at every fake start of every target: a placebo run, or a power run.

    ``rate_ratio`` None leaves the counts as they are (placebo); else the
    target's counts from the start are thinned to it. ``arguments(unit,
    series, counts)`` gives the estimator's arguments before ``start`` and the
    extra columns of the unit's rows; with a ``window`` the series it gets is
    already cut around the start.
    """
    _check_window(window, min_pre, min_post)

    def call(unit, series, start, rng):
        if rate_ratio is None:
            counts = series.counts.copy()
        else:
            counts = _thin_post(series, start, rate_ratio, rng)
        args, extra = arguments(unit, series, counts)
        est, err = _call(estimator, (*args, start))
        return est, err, extra

    frame, n_failed = _run(
        targets,
        call,
        starts=starts,
        min_pre=min_pre,
        min_post=min_post,
        step=step,
        seed=seed,
        window=window,
    )
    if rate_ratio is None:
        return _placebo_result(frame, alpha, n_failed, skipped)
    return _power_result(frame, rate_ratio, alpha, n_failed, skipped)


def _placebo_result(frame: pd.DataFrame, alpha: float, n_failed: int, skipped) -> PlaceboResult:
    frame = frame.assign(rejected=frame["p_value"] < alpha)
    n = len(frame)
    k = int(frame["rejected"].sum())
    lo, hi = wilson_interval(k, n)
    clo, chi = cluster_interval(frame["rejected"].to_numpy(), frame["unit"].to_numpy())
    return PlaceboResult(
        alpha=alpha,
        rejection_rate=k / n if n else math.nan,
        ci_low=lo,
        ci_high=hi,
        cluster_ci_low=clo,
        cluster_ci_high=chi,
        n_tests=n,
        n_units=int(frame["unit"].nunique()),
        n_failed=n_failed,
        skipped=tuple(skipped),
        results=frame,
    )


def _power_result(
    frame: pd.DataFrame, rate_ratio: float, alpha: float, n_failed: int, skipped
) -> PowerResult:
    rejected = frame["p_value"] < alpha
    if rate_ratio < 1:
        right_side = frame["rate_ratio"] < 1
    elif rate_ratio > 1:
        right_side = frame["rate_ratio"] > 1
    else:
        right_side = pd.Series(True, index=frame.index)
    frame = frame.assign(
        rejected=rejected,
        detected=rejected & right_side,
        covered=(frame["ci_low"] <= rate_ratio) & (rate_ratio <= frame["ci_high"]),
    )
    n = len(frame)
    k = int(frame["detected"].sum())
    c = int(frame["covered"].sum())
    lo, hi = wilson_interval(k, n)
    clo, chi = wilson_interval(c, n)
    return PowerResult(
        true_rate_ratio=rate_ratio,
        alpha=alpha,
        detection_rate=k / n if n else math.nan,
        ci_low=lo,
        ci_high=hi,
        coverage=c / n if n else math.nan,
        coverage_ci_low=clo,
        coverage_ci_high=chi,
        median_rate_ratio=float(frame["rate_ratio"].median()) if n else math.nan,
        n_tests=n,
        n_units=int(frame["unit"].nunique()),
        n_failed=n_failed,
        skipped=tuple(skipped),
        results=frame,
    )


def _check_ratio(rate_ratio: float) -> None:
    # Thinning can only remove events, so only falls can be injected.
    if not 0 < rate_ratio <= 1:
        raise ValueError("binomial thinning injects rate ratios in (0, 1] only")


def _thin_post(series: _Series, start: pd.Period, rate_ratio: float, rng) -> np.ndarray:
    i = series.periods.get_loc(start)
    y = series.counts.copy()
    y[i:] = thin_counts(y[i:], rate_ratio, rng)
    return y


def _big_enough(prepared: dict[str, _Series], min_mean: float, skipped: list[str]):
    kept = {}
    for unit, s in prepared.items():
        mean = float(np.mean(s.counts))
        if mean >= min_mean:
            kept[unit] = s
        else:
            skipped.append(f"{unit}: mean {mean:.1f} per period < {min_mean:g}")
    return kept


# --------------------------------------------------------------------------- single series


def _single_arguments(unit: str, series: _Series, counts: np.ndarray) -> tuple[tuple, dict]:
    return (counts, series.exposure, series.periods), {}


def placebo_rejection_rate(
    series_by_unit: Mapping[str, pd.DataFrame],
    estimator: Estimator,
    *,
    alpha: float = 0.05,
    starts: Sequence[pd.Period] | int | None = None,
    min_pre: int = 18,
    min_post: int = 12,
    step: int = 3,
    seed: int = 0,
    window: tuple[int, int] | None = None,
) -> PlaceboResult:
    """False-positive rate of an ITS method at fake starts in real series.

    Parameters
    ----------
    series_by_unit : mapping of str to pandas.DataFrame
        One frame per unit with columns ``period`` (consecutive periods),
        ``count`` and optionally ``exposure`` (e.g. population). Units with
        missing counts or gaps are skipped and listed in ``skipped``.
    estimator : callable
        ``estimator(counts, exposure, periods, start)`` returning
        ``(rate_ratio, ci_low, ci_high, p_value)``. ``exposure`` is None when
        the frames have no such column.
    alpha : float, default 0.05
        Nominal level; a test rejects when ``p_value < alpha``.
    starts : sequence of pandas.Period, int or None
        Fake starts. None: a fixed grid every ``step`` periods (see
        :func:`placebo_starts`). An int k: k starts per unit drawn without
        replacement (seeded). A sequence: these periods, where they leave
        enough periods on both sides.
    min_pre, min_post : int, default 18 and 12
        Least number of periods before and from a start.
    step : int, default 3
        Spacing of the fixed grid.
    seed : int, default 0
        Seed of the drawn starts.
    window : tuple of int, optional
        ``(before, after)``: each test sees only the ``before`` periods before
        its start and the ``after`` periods from it, the series cut around
        the start; starts are chosen as without a window and kept where the
        whole window fits. It must leave at least ``min_pre`` and ``min_post``.
        None: the whole series.

    Returns
    -------
    PlaceboResult
    """
    check_probability(alpha)
    prepared, skipped = _prepare(series_by_unit)
    return _calibrate(
        prepared,
        _single_arguments,
        estimator,
        rate_ratio=None,
        alpha=alpha,
        skipped=skipped,
        starts=starts,
        min_pre=min_pre,
        min_post=min_post,
        step=step,
        seed=seed,
        window=window,
    )


def injected_effect_power(
    series_by_unit: Mapping[str, pd.DataFrame],
    estimator: Estimator,
    *,
    rate_ratio: float = 0.8,
    alpha: float = 0.05,
    min_mean: float = 100.0,
    starts: Sequence[pd.Period] | int | None = None,
    min_pre: int = 18,
    min_post: int = 12,
    step: int = 3,
    seed: int = 0,
    window: tuple[int, int] | None = None,
) -> PowerResult:
    """Power and interval coverage of an ITS method for an injected effect.

    At each start the counts from the start on are thinned binomially with
    probability ``rate_ratio``; the earlier counts are untouched.

    Parameters
    ----------
    series_by_unit, estimator, alpha, starts, min_pre, min_post, step, seed, window
        As in :func:`placebo_rejection_rate`; ``seed`` also drives the thinning.
    rate_ratio : float, default 0.8
        True effect, in (0, 1] (thinning can only remove events).
    min_mean : float, default 100
        Only units with at least this mean count per period are used.

    Returns
    -------
    PowerResult
        A test detects the effect when it is significant and its estimate
        lies on the same side of 1 as ``rate_ratio``.
    """
    check_probability(alpha)
    _check_ratio(rate_ratio)
    prepared, skipped = _prepare(series_by_unit)
    return _calibrate(
        _big_enough(prepared, min_mean, skipped),
        _single_arguments,
        estimator,
        rate_ratio=rate_ratio,
        alpha=alpha,
        skipped=skipped,
        starts=starts,
        min_pre=min_pre,
        min_post=min_post,
        step=step,
        seed=seed,
        window=window,
    )


# --------------------------------------------------------------------------- controlled


def choose_controls(
    series_by_unit: Mapping[str, pd.DataFrame],
    target: str,
    n_controls: int = 10,
    *,
    pool_factor: int = 2,
    exclude: Sequence[str] = (),
    seed: int = 0,
) -> list[str]:
    """Pick control units of a size similar to the target's (seeded).

    The ``pool_factor × n_controls`` units whose mean count is closest to
    the target's on the log scale form a pool; ``n_controls`` are drawn from
    it without replacement. The draw depends only on ``seed`` and the names,
    so it is reproducible.

    Parameters
    ----------
    series_by_unit : mapping of str to pandas.DataFrame
        Frames with a ``count`` column.
    target : str
        The target unit; never its own control.
    n_controls : int, default 10
        Number of controls.
    pool_factor : int, default 2
        Size of the pool relative to ``n_controls``; 1 takes the nearest.
    exclude : sequence of str
        Units that may not serve as controls (other treated units).
    seed : int, default 0
        Seed of the draw.

    Returns
    -------
    list of str
        Sorted control names.
    """
    means = {u: float(pd.to_numeric(f["count"]).mean()) for u, f in series_by_unit.items()}
    return _pick_controls(means, target, n_controls, pool_factor, exclude, seed)


def _pick_controls(
    means: Mapping[str, float],
    target: str,
    n_controls: int,
    pool_factor: int,
    exclude: Sequence[str],
    seed: int,
) -> list[str]:
    if n_controls < 1:
        raise ValueError("n_controls must be at least 1")
    if pool_factor < 1:
        raise ValueError("pool_factor must be at least 1")
    excluded = {target, *exclude}
    candidates = sorted(u for u, m in means.items() if u not in excluded and m > 0)
    if len(candidates) < n_controls:
        raise ValueError(f"only {len(candidates)} candidate controls for {target!r}")
    t_log = math.log(max(means[target], 1e-9))
    distance = np.array([abs(math.log(means[u]) - t_log) for u in candidates])
    order = np.argsort(distance, kind="stable")
    pool = [candidates[i] for i in order[: pool_factor * n_controls]]
    # Seeded by the target's name too, so each target gets its own draw.
    rng = np.random.default_rng([seed, *target.encode("utf-8")])
    picked = rng.choice(len(pool), size=n_controls, replace=False)
    return sorted(pool[i] for i in picked)


def _control_counts(prepared, controls, periods, pooled: bool) -> np.ndarray:
    cols = []
    for c in controls:
        s = prepared[c]
        idx = s.periods.get_indexer(periods)
        if (idx < 0).any():
            raise ValueError(f"control {c!r} does not cover the target's periods")
        cols.append(s.counts[idx])
    mat = np.column_stack(cols)
    return mat.sum(axis=1) if pooled else mat


def _controlled(
    series_by_unit,
    estimator: ControlledEstimator,
    *,
    rate_ratio: float | None,
    alpha: float,
    n_controls: int,
    pool_factor: int,
    pooled: bool,
    min_mean: float,
    starts,
    min_pre: int,
    min_post: int,
    step: int,
    seed: int,
    window: tuple[int, int] | None,
):
    prepared, skipped = _prepare(series_by_unit)
    targets = prepared if rate_ratio is None else _big_enough(dict(prepared), min_mean, skipped)
    means = {u: float(np.mean(s.counts)) for u, s in prepared.items()}
    controls_of = {u: _pick_controls(means, u, n_controls, pool_factor, (), seed) for u in targets}

    def arguments(unit, series, counts):
        control = _control_counts(prepared, controls_of[unit], series.periods, pooled)
        return (counts, control, series.periods), {"controls": ", ".join(controls_of[unit])}

    return _calibrate(
        targets,
        arguments,
        estimator,
        rate_ratio=rate_ratio,
        alpha=alpha,
        skipped=skipped,
        starts=starts,
        min_pre=min_pre,
        min_post=min_post,
        step=step,
        seed=seed,
        window=window,
    )


def controlled_placebo_rejection_rate(
    series_by_unit: Mapping[str, pd.DataFrame],
    estimator_controlled: ControlledEstimator,
    *,
    alpha: float = 0.05,
    n_controls: int = 10,
    pool_factor: int = 2,
    pooled: bool = True,
    starts: Sequence[pd.Period] | int | None = None,
    min_pre: int = 18,
    min_post: int = 12,
    step: int = 3,
    seed: int = 0,
    window: tuple[int, int] | None = None,
) -> PlaceboResult:
    """False-positive rate of a comparison design on real series.

    Each unit in turn is the target; its control is ``n_controls`` other
    real units of similar size (see :func:`choose_controls`), summed into one
    series when ``pooled`` (else passed as a periods × controls matrix).

    Parameters
    ----------
    series_by_unit : mapping of str to pandas.DataFrame
        As in :func:`placebo_rejection_rate`; an ``exposure`` column is ignored.
    estimator_controlled : callable
        ``estimator_controlled(target_counts, control_counts, periods, start)``
        returning ``(rate_ratio, ci_low, ci_high, p_value)``.
    alpha, starts, min_pre, min_post, step, seed, window
        As in :func:`placebo_rejection_rate`; ``seed`` also picks the controls (by
        their whole series' mean).
    n_controls, pool_factor : int
        Passed to :func:`choose_controls`.
    pooled : bool, default True
        Sum the controls into one series.

    Returns
    -------
    PlaceboResult
        ``results`` has a ``controls`` column.
    """
    check_probability(alpha)
    return _controlled(
        series_by_unit,
        estimator_controlled,
        rate_ratio=None,
        alpha=alpha,
        n_controls=n_controls,
        pool_factor=pool_factor,
        pooled=pooled,
        min_mean=0.0,
        starts=starts,
        min_pre=min_pre,
        min_post=min_post,
        step=step,
        seed=seed,
        window=window,
    )


def controlled_injected_effect_power(
    series_by_unit: Mapping[str, pd.DataFrame],
    estimator_controlled: ControlledEstimator,
    *,
    rate_ratio: float = 0.8,
    alpha: float = 0.05,
    min_mean: float = 100.0,
    n_controls: int = 10,
    pool_factor: int = 2,
    pooled: bool = True,
    starts: Sequence[pd.Period] | int | None = None,
    min_pre: int = 18,
    min_post: int = 12,
    step: int = 3,
    seed: int = 0,
    window: tuple[int, int] | None = None,
) -> PowerResult:
    """Power and coverage of a comparison design for an injected effect.

    Only the target's post-period counts are thinned; the controls are the
    real series. Targets need a mean of at least ``min_mean``; controls
    are chosen among all usable units.

    Parameters
    ----------
    series_by_unit, estimator_controlled, alpha, n_controls, pool_factor, pooled,
    starts, min_pre, min_post, step, seed, window
        As in :func:`controlled_placebo_rejection_rate`.
    rate_ratio : float, default 0.8
        True effect, in (0, 1].
    min_mean : float, default 100
        Least mean count per period of a target.

    Returns
    -------
    PowerResult
    """
    check_probability(alpha)
    _check_ratio(rate_ratio)
    return _controlled(
        series_by_unit,
        estimator_controlled,
        rate_ratio=rate_ratio,
        alpha=alpha,
        n_controls=n_controls,
        pool_factor=pool_factor,
        pooled=pooled,
        min_mean=min_mean,
        starts=starts,
        min_pre=min_pre,
        min_post=min_post,
        step=step,
        seed=seed,
        window=window,
    )


# --------------------------------------------------------------------------- held-out panels

#: London's categories: every borough's total except fraud (recorded elsewhere from 2013),
#: and three categories that put boroughs in the smaller size bands.
LONDON_SERIES = {
    "total": None,
    "burglary": "Burglary",
    "robbery": "Robbery",
    "sexual offences": "Sexual Offences",
}
#: US offence columns: all index crimes, and three that put agencies in the smaller size bands.
US_SERIES = {
    "total": ("violent_crime", "property_crime"),
    "burglary": ("burglary",),
    "robbery": ("robbery",),
    "murder and rape": ("murder", "rape"),
}
US_AGENCIES = 64


def _units(wide: pd.DataFrame, label: str) -> dict[str, pd.DataFrame]:
    """One frame per row of ``wide`` (rows: units, columns: consecutive periods)."""
    periods = pd.PeriodIndex(wide.columns)
    return {
        f"{unit} ({label})": pd.DataFrame({"period": periods, "count": row.to_numpy(float)})
        for unit, row in wide.iterrows()
    }


def read_london_boroughs(folder: str | Path) -> dict[str, dict[str, pd.DataFrame]]:
    """London boroughs' monthly recorded crime, 2008-2016, as calibration series.

    Parameters
    ----------
    folder : str or pathlib.Path
        The folder holding ``MPS_Borough_Level_Crime_Historic.csv`` (wide:
        one row per borough and minor category, one column per ``YYYYMM``).
    Returns
    -------
    dict of str to dict of str to pandas.DataFrame
        Per series (``LONDON_SERIES``: total without fraud, burglary,
        robbery, sexual offences) the units' frames with columns ``period``
        and ``count`` (108 months), named ``"<borough> (<series>)"``.
    """
    path = Path(folder) / "MPS_Borough_Level_Crime_Historic.csv"
    frame = pd.read_csv(path)
    months = [c for c in frame.columns if c.isdigit() and len(c) == 6]
    if not months:
        raise ValueError(f"{path}: no YYYYMM columns")
    wide_all = frame.set_index(["Borough", "Major Category"])[months].apply(pd.to_numeric)
    wide_all.columns = pd.PeriodIndex([pd.Period(f"{c[:4]}-{c[4:]}", freq="M") for c in months])
    out = {}
    for label, category in LONDON_SERIES.items():
        if category is None:
            rows = wide_all[wide_all.index.get_level_values(1) != "Fraud or Forgery"]
        else:
            rows = wide_all[wide_all.index.get_level_values(1) == category]
        wide = rows.groupby(level=0).sum()
        out[label] = _units(wide, label)
    return out


def read_us_agencies(
    folder: str | Path, *, n_agencies: int = US_AGENCIES
) -> dict[str, dict[str, pd.DataFrame]]:
    """US city agencies' monthly reported crime (Real-Time Crime Index) as calibration series.

    An agency is used when it reports every offence column in ``US_SERIES`` for
    every month 2018-01..2024-07 and its index-crime total has no reporting gap
    or dump (no month below a third or above three times its median). Of those,
    ``n_agencies`` are taken evenly along the order of their size, so every
    size is represented; the choice depends only on the file.

    Parameters
    ----------
    folder : str or pathlib.Path
        The folder holding ``by_agency_table.csv``.
    n_agencies : int, default 64
        Agencies kept.
    Returns
    -------
    dict of str to dict of str to pandas.DataFrame
        As :func:`read_london_boroughs`, per series of ``US_SERIES`` (79 months).
    """
    path = Path(folder) / "by_agency_table.csv"
    frame = pd.read_csv(path)
    frame = frame[frame["state_name"] != "Nationwide"]
    columns = sorted({c for cols in US_SERIES.values() for c in cols})
    frame = frame.assign(period=pd.PeriodIndex(pd.to_datetime(frame["date"]), freq="M"))
    values = frame.set_index(["agency_full", "period"])[columns].apply(
        pd.to_numeric, errors="coerce"
    )
    values = values.where(values >= 0)  # -1 marks a missing month
    periods = pd.period_range(
        values.index.get_level_values(1).min(), values.index.get_level_values(1).max(), freq="M"
    )
    clean = {}
    for agency, rows in values.groupby(level=0):
        rows = rows.droplevel(0).reindex(periods)
        if rows.isna().any().any():
            continue
        total = rows[list(US_SERIES["total"])].sum(axis=1)
        median = float(total.median())
        if median <= 0 or (total < median / 3).any() or (total > 3 * median).any():
            continue
        clean[agency] = rows
    if len(clean) < n_agencies:
        raise ValueError(f"{path}: only {len(clean)} agencies with clean series")
    by_size = sorted(
        clean, key=lambda a: (float(clean[a][list(US_SERIES["total"])].sum(axis=1).mean()), a)
    )
    keep = [by_size[int(i)] for i in np.linspace(0, len(by_size) - 1, n_agencies).round()]
    out = {}
    for label, cols in US_SERIES.items():
        wide = pd.DataFrame({a: clean[a][list(cols)].sum(axis=1) for a in keep}).T
        out[label] = _units(wide, label)
    return out
