"""Difference-in-differences on a panel: several targets, staggered starts, shared controls.

A study with several target places (each with its own intervention start) and
a pool of never-treated comparison areas gets one Poisson model with unit and
period fixed effects and an exposure offset::

    log E[y_it] = log(exposure_it) + a_i + g_t + sum_g sum_s d_gs * [i = g, t = s >= start_g]

with one effect for every target and post-period month: the extended two-way
fixed effects (ETWFE) estimator for Poisson of Wooldridge (2023, *The
Econometrics Journal* 26(3), C31-C66). Because every treated month of a target
has its own effect, treated observations never serve as comparisons for
another target: the forbidden comparisons of a two-way fixed effects model
with one ``post`` dummy under staggered adoption (Goodman-Bacon 2021; Borusyak,
Jaravel & Spiess 2024) cannot occur. The fit equals the imputation estimator:
unit and period effects come from the untreated observations (the
never-treated controls over the whole window, and each target before its
start), and a target's rate ratio compares its observed post-period count
with the count the model imputes without the measures::

    rate ratio of target g = sum_{t >= start_g} y_gt / sum_{t >= start_g} exp(offset + a_g + g_t)

i.e. the target's monthly effects averaged with its expected counts as weights.
With one target, or several sharing one start, and an exposure that is the
same for every unit (or absent), this is exactly the classic ratio of rate
ratios ``(Y_post / Y_pre) / (C_post / C_pre)`` against the pooled controls.

The pooled estimate is a weighted mean of the targets' log rate ratios, the
weights being each target's *expected post-period count without the measures*
(the denominator above), so a place with more expected crimes counts more and
a strong effect does not shrink its own weight.

Inference. Each log rate ratio has a sampling variance: the target's
post-period count (quasi-Poisson, with the target's own Pearson dispersion)
and the fitted effects, by the delta method with unit-wise dispersions (the
same cells give the covariance between targets, which share the month
effects). Real series also drift apart by more than sampling noise, and with
2-10 treated units cluster-robust errors cannot see that: a target's own
cluster score is zero by construction, so they measure only the comparison's
noise (Conley & Taber 2011, *Review of Economics and Statistics* 93(1);
Ferman & Pinto 2019, *Review of Economics and Statistics* 101(3)). The
default (``placebo_space``) therefore adds drift variances measured the way
``designs/controlled.py`` and ``designs/its.py`` measure theirs, from placebo
estimates, ``tau2 = max(0, mean(b^2) - mean(s^2))``:

- each target: every control in turn is treated exactly like the target
  (same months, same start) and estimated against the other controls, a
  placebo in space as in ``designs/donor.py``; t reference on as many df as
  placebo controls;
- the pooled estimate: pseudo-studies of controls, as many at once as there
  are targets, share the remaining comparison as the targets share theirs, so
  they carry its drift into every target alike. Targets may also share drift
  with each other that no control shows (one town, one police district), and
  the measures may work differently in different municipalities. With targets
  in several municipalities both show as a spread of the municipalities'
  estimates beyond what sampling and drift explain: a variance component
  between municipalities, by the method of moments for correlated estimates,
  measured over the real post-periods; once it is positive the pooled estimate
  takes a t reference on M - 1 df (M municipalities), as Hartung-Knapp's in a
  meta-analysis (``nested=True``). Places are thus nested in municipalities,
  and that estimate is of the effect in municipalities like these. With
  ``nested=False`` the estimate is of the effect at these places: drift that
  one municipality's targets share is independent between municipalities, so
  with several of them the comparison's drift from pseudo-studies of controls
  is the pooled drift. With one municipality there is no such spread, and the targets' own
  pre-period stands in: all given the same fake start at every month of their
  common pre-period that leaves 12 months before and 6 after; the larger of
  the two measurements is kept. Those fake post-periods are shorter than the
  real ones, so for passing shocks this is conservative.

On Brå's monthly totals (groups of 3 municipalities with staggered fake starts
and the 25 nearest in size as controls, ``benchmarks/calibrate_panel.py``)
this called 5.6 % of pooled and 6.1 % of per-target placebo estimates
significant at the 5 % level, against 25-27 % without the drift terms and
48-66 % with cluster-robust errors; power against a 20 % drop was 79 %
pooled and 52 % per target, coverage 94 %. Drift from the targets' own
pre-period alone (``placebo_time``) held worse (9-11 %) and cannot be
measured with short pre-periods. ``INFERENCE`` lists the options.

What it can show: a change at the targets from their starts beyond the change
at the never-treated areas in the same months (SMS level 3), per target and on
average. What it cannot: rule out that something else happened at a target at
its start, or help when the controls were treated too (keep treated places out
of the comparison pool); parallel trends on the log scale and no anticipation
are assumptions. Declared shocks need no terms: the period effects absorb
whatever hits all areas alike.

One module (over 500 lines) because the panel's fit, its drift variance from
placebo fits and its eligibility rules are one design and are checked together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ..inputs.prepare import StudyData
from ..inputs.study import Place
from ..results import Effect
from .base import place_series, target_series

Inference = Literal["placebo_space", "placebo_time", "quasipoisson", "cluster"]
INFERENCE: dict[str, str] = {
    "placebo_space": "drift variances from placebos in space (and the targets' joint pre-period "
    "for the pooled estimate); the default",
    "placebo_time": "drift variance from placebo steps in each target's own pre-period",
    "quasipoisson": "sampling variance only: too narrow on real series, for comparison",
    "cluster": "cluster-robust by unit: far too narrow with few targets, for comparison",
}
NAME = "panel"
SMS_LEVEL = 3
MIN_PRE = 12
MIN_POST = 3
MIN_CONTROLS = 2
MIN_TARGETS = 2
MIN_PLACEBOS = 2
PLACEBO_BEFORE = 12
PLACEBO_AFTER = 6

_MAX_ITERATIONS = 5000
_TOLERANCE = 1e-11
_BATCH_CELLS = 4_000_000  # cells per batch of refits: bounds memory on large pools


@dataclass(frozen=True)
class TargetFit:
    """One target's rate ratio from the panel.

    Attributes
    ----------
    target : str
        The target's id.
    start : pandas.Period
        First month of the intervention.
    n_pre, n_post : int
        Months observed before and from the start.
    ratio, ci_low, ci_high, p_value : float
        Rate ratio (observed post-period count over the imputed count without
        the measures), its interval and two-sided p-value.
    log_ratio, std_error : float
        The log rate ratio and its standard error (sampling and drift).
    sampling_std_error : float
        The standard error without the drift term.
    drift_variance : float
        The drift variance added (0 without it).
    df : float
        Degrees of freedom of the t reference (``inf``: normal).
    weight : float
        Share in the pooled estimate.
    expected_post : float
        Expected count from the start without the measures (the weight's basis).
    observed_post : float
        Observed count from the start.
    dispersion : float
        Pearson dispersion of the target's pre-period fit (at least 1).
    placebo_p_value : float
        Rank of the target's statistic among the placebo statistics,
        ``(1 + #at least as extreme) / (n + 1)``; NaN without placebos.
    fitted : pandas.DataFrame
        Per month: ``period``, ``observed``, ``fitted`` and ``counterfactual``.
    """

    target: str
    start: pd.Period
    n_pre: int
    n_post: int
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    log_ratio: float
    std_error: float
    sampling_std_error: float
    drift_variance: float
    df: float
    weight: float
    expected_post: float
    observed_post: float
    dispersion: float
    placebo_p_value: float
    fitted: pd.DataFrame


@dataclass(frozen=True)
class PanelFit:
    """The pooled and per-target rate ratios of a panel fit.

    Attributes
    ----------
    ratio, ci_low, ci_high, p_value : float
        Pooled rate ratio (the targets' log rate ratios averaged with their
        expected post-period counts as weights), its interval and p-value.
    log_ratio, std_error, sampling_std_error, df : float
        Pooled log rate ratio, its standard error with and without drift, and
        the degrees of freedom of its t reference.
    placebo_p_value : float
        Rank of the pooled statistic among the pseudo-studies' statistics,
        ``(1 + #at least as extreme) / (n + 1)`` (``placebo_space`` with
        several targets; NaN otherwise).
    targets : tuple of TargetFit
        One per target, in the order given.
    controls : tuple of str
        Controls used.
    inference : str
        The inference in one line.
    level : float
        Confidence level.
    placebos : pandas.DataFrame
        The placebo estimates behind the drift variance: ``target`` (whose
        start or window they copy), ``unit``, ``start``, ``log_ratio``, ``std_error``.
    pooled_placebos : pandas.DataFrame
        The pseudo-studies behind the pooled drift variance (``placebo_space``
        with several targets): ``log_ratio`` (the pseudo-pooled estimate with
        the targets' weights) and ``std_error`` (its sampling standard error).
    excluded : tuple of str
        Controls left out, with the reason.
    between_tau2 : float
        Variance between municipalities on the log scale (0 with one
        municipality); the pooled standard error includes it.
    municipalities : int
        How many municipalities the targets are in.
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    log_ratio: float
    std_error: float
    sampling_std_error: float
    df: float
    placebo_p_value: float
    targets: tuple[TargetFit, ...]
    controls: tuple[str, ...]
    inference: str
    level: float
    placebos: pd.DataFrame
    pooled_placebos: pd.DataFrame
    excluded: tuple[str, ...] = ()
    between_tau2: float = 0.0
    municipalities: int = 1


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class _Panel:
    """Units x months arrays; missing cells have ``observed`` False and count 0."""

    units: tuple[str, ...]
    periods: pd.PeriodIndex
    counts: np.ndarray
    exposure: np.ndarray
    observed: np.ndarray
    n_targets: int
    start_index: np.ndarray  # per target: position of its start in ``periods``


@dataclass(frozen=True)
class _Series:
    """One checked series as arrays: month ordinals (sorted), counts, exposure."""

    months: np.ndarray
    values: np.ndarray
    exposure: np.ndarray

    def between(self, first: int, last: int) -> _Series:
        keep = (self.months >= first) & (self.months <= last)
        return _Series(self.months[keep], self.values[keep], self.exposure[keep])


def checked_series(name: str, frame: pd.DataFrame) -> _Series:
    """Check one series and turn it into arrays; ValueError names the series."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"the series of {name!r} must be a DataFrame")
    missing = {"value", "exposure"} - set(frame.columns)
    if missing:
        raise ValueError(f"the series of {name!r} lacks column(s) {sorted(missing)}")
    index = frame.index
    if not (isinstance(index, pd.PeriodIndex) and index.freqstr == "M"):
        raise ValueError(f"the series of {name!r} must be indexed by monthly periods (freq 'M')")
    months = index.asi8
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float)
    exposure = pd.to_numeric(frame["exposure"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"the series of {name!r} has missing or negative counts")
    if not np.isfinite(exposure).all() or (exposure <= 0).any():
        raise ValueError(f"the series of {name!r} has missing or non-positive exposure")
    order = np.argsort(months, kind="stable")
    months = months[order]
    if (np.diff(months) == 0).any():
        raise ValueError(f"the series of {name!r} repeats a month")
    return _Series(months, values[order], exposure[order])


def stack_series(series: Sequence[_Series]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units x months arrays over the months from the first to the last of any series.

    Returns counts, exposure and ``observed``; a month a series lacks has
    ``observed`` False, count 0 and exposure 1.
    """
    first = min(int(s.months[0]) for s in series if len(s.months))
    last = max(int(s.months[-1]) for s in series if len(s.months))
    n, m = len(series), last - first + 1
    counts = np.zeros((n, m))
    exposure = np.ones((n, m))
    observed = np.zeros((n, m), dtype=bool)
    for i, one in enumerate(series):
        pos = one.months - first
        counts[i, pos] = one.values
        exposure[i, pos] = one.exposure
        observed[i, pos] = True
    return counts, exposure, observed


def _build(
    targets: Mapping[str, pd.DataFrame],
    starts: Mapping[str, pd.Period | str],
    controls: Mapping[str, pd.DataFrame],
) -> tuple[_Panel, list[str]]:
    """The units x months arrays over the targets' window, and the controls left out."""
    if not isinstance(targets, Mapping) or not isinstance(controls, Mapping):
        raise ValueError("targets and controls must be mappings of id -> series")
    if not targets:
        raise EstimationError("the panel needs at least one target")
    names = [str(t) for t in targets]
    overlap = sorted(set(names) & {str(c) for c in controls})
    if overlap:
        raise ValueError(f"a target cannot be a control too: {', '.join(overlap)}")
    missing = [str(t) for t in targets if t not in starts]
    if missing:
        raise ValueError(f"no intervention start for target(s) {', '.join(missing)}")
    target_series = {str(t): checked_series(str(t), f) for t, f in targets.items()}
    start_of = {}
    for t in targets:
        try:
            start_of[str(t)] = pd.Period(starts[t], freq="M")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the start of {t!r} is not a month: {starts[t]!r}") from exc
    for name, series in target_series.items():
        before = series.months < start_of[name].ordinal
        n_pre, n_post = int(before.sum()), int((~before).sum())
        if n_pre < MIN_PRE or n_post < MIN_POST:
            raise EstimationError(
                f"target {name!r} needs {MIN_PRE} months before and {MIN_POST} from its start "
                f"{start_of[name]}; got {n_pre} and {n_post}"
            )
        if series.values[before].sum() == 0 or series.values[~before].sum() == 0:
            raise EstimationError(f"target {name!r} has no events before or after its start")
    first = min(int(s.months[0]) for s in target_series.values())
    last = max(int(s.months[-1]) for s in target_series.values())
    excluded = []
    control_series = {}
    for c, frame in controls.items():
        series = checked_series(str(c), frame).between(first, last)
        if not len(series.months):
            excluded.append(f"{c}: no months in the targets' window")
        elif series.values.sum() == 0:
            excluded.append(f"{c}: no events in the targets' window")
        else:
            control_series[str(c)] = series
    if len(control_series) < MIN_CONTROLS:
        raise EstimationError(
            f"the panel needs at least {MIN_CONTROLS} controls with events; got "
            f"{len(control_series)}" + (f" ({'; '.join(excluded)})" if excluded else "")
        )
    units = (*target_series, *control_series)
    counts, exposure, observed = stack_series([*target_series.values(), *control_series.values()])
    periods = pd.period_range(pd.Period(ordinal=first, freq="M"), periods=counts.shape[1], freq="M")
    uncovered = np.flatnonzero(~observed[len(target_series) :].any(axis=0))
    if len(uncovered):
        raise EstimationError(
            f"no control has data for {len(uncovered)} month(s) of the targets' window "
            f"(first {periods[uncovered[0]]})"
        )
    start_index = np.array([start_of[t].ordinal - first for t in target_series])
    panel = _Panel(units, periods, counts, exposure, observed, len(target_series), start_index)
    return panel, excluded


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class _Effects:
    """For each fit of a batch, the effects it estimates (unit, post cells)."""

    log_ratio: np.ndarray  # fits x effects
    expected: np.ndarray  # fits x effects: imputed post count without the effect
    observed: np.ndarray  # fits x effects
    covariance: np.ndarray  # fits x effects x effects: sampling, quasi-Poisson
    cluster: np.ndarray  # fits x effects x effects: cluster-robust by unit
    dispersion: np.ndarray  # fits x units
    imputed: np.ndarray  # fits x units x months: exp(offset + a_i + g_t)


def _fit(
    panel: _Panel, masks: np.ndarray, effect_units: np.ndarray, effect_cells: np.ndarray
) -> _Effects:
    """Poisson two-way fixed effects on the cells of each mask, with the effects' variances.

    Parameters
    ----------
    masks : (fits, units, months) bool
        The untreated cells each fit uses.
    effect_units : (fits, effects) int
        The unit of each effect.
    effect_cells : (fits, effects, months) bool
        The post-period cells of each effect (left out of the fit).
    """
    y, expo = panel.counts, panel.exposure
    b, n, m = masks.shape
    k = effect_units.shape[1]
    weight = masks * expo
    ym = masks * y
    row_y = ym.sum(axis=2)
    col_y = ym.sum(axis=1)
    # Alternating (iterative proportional) fitting of the multiplicative unit and
    # period effects: each step solves one set of score equations exactly, and the
    # tables are nearly complete, so it converges in a handful of cheap steps.
    g = np.ones((b, m))
    a = np.zeros((b, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(_MAX_ITERATIONS):
            denom = (weight @ g[:, :, None])[:, :, 0]
            a = np.where(denom > 0, row_y / denom, 0.0)
            denom = (a[:, None, :] @ weight)[:, 0, :]
            g = np.where(denom > 0, col_y / denom, 0.0)
            rows = a * (weight @ g[:, :, None])[:, :, 0]
            if np.max(np.abs(rows - row_y) / (row_y + 1.0)) < _TOLERANCE:
                break
        else:
            raise EstimationError("the panel's fixed-effects fit did not converge")
    imputed = expo[None] * a[:, :, None] * g[:, None, :]
    mu = masks * imputed

    # Unit-wise Pearson dispersion over each unit's fitted cells (floored at 1).
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.where(mu > 0, (y[None] - mu) ** 2 / mu, 0.0)
    n_cells = masks.sum(axis=2)
    n_params = (n_cells > 0).sum(axis=1) + (masks.any(axis=1)).sum(axis=1) - 1
    share = 1.0 - n_params / np.maximum(masks.sum(axis=(1, 2)), 1)
    df_unit = n_cells * share[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = np.where(df_unit > 0, pearson.sum(axis=2) / df_unit, 1.0)
    dispersion = np.maximum(dispersion, 1.0)

    fits = np.arange(b)[:, None]
    target_imputed = imputed[fits, effect_units] * effect_cells  # b x k x m
    expected = target_imputed.sum(axis=2)
    observed = (y[effect_units] * effect_cells).sum(axis=2)
    with np.errstate(divide="ignore"):
        log_ratio = np.log(observed) - np.log(expected)

    # Delta method for f = log(expected): gradient 1 for the unit's effect, the
    # expected count's share for each post month's period effect. Solve I v = grad
    # through the Schur complement on the period effects (months are few); the
    # information matrix is singular along (1, -1), which the rank-one term fixes
    # without changing v' J v.
    rows_mu = mu.sum(axis=2)
    cols_mu = mu.sum(axis=1)
    inv_rows = np.where(rows_mu > 0, 1.0 / np.where(rows_mu > 0, rows_mu, 1.0), 0.0)
    scaled = mu * inv_rows[:, :, None]
    schur = -np.swapaxes(scaled, 1, 2) @ mu
    diag = np.where(cols_mu > 0, cols_mu, 1.0)
    schur[:, np.arange(m), np.arange(m)] += diag
    schur += diag.mean(axis=1)[:, None, None] / m
    grad_unit = np.zeros((b, n, k))
    grad_unit[fits, effect_units, np.arange(k)[None, :]] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        grad_period = np.where(expected[:, :, None] > 0, target_imputed / expected[:, :, None], 0)
    grad_period = np.transpose(grad_period, (0, 2, 1))  # b x m x k
    rhs = grad_period - np.swapaxes(scaled, 1, 2) @ grad_unit
    v_period = np.linalg.solve(schur, rhs)
    v_unit = (grad_unit - mu @ v_period) * inv_rows[:, :, None]
    lever = v_unit[:, :, None, :] + v_period[:, None, :, :]  # b x n x m x k
    spread = (dispersion[:, :, None] * mu).reshape(b, n * m, 1)
    flat = lever.reshape(b, n * m, k)
    covariance = np.einsum("bik,bil->bkl", flat * spread, flat)
    # The post-period count's own noise: independent of the fitted cells.
    own = dispersion[fits, effect_units] / np.where(observed > 0, observed, np.nan)
    covariance[:, np.arange(k), np.arange(k)] += own
    # Cluster-robust by unit: each unit's score, mapped through v. The target's
    # post cells are fitted exactly, so its own noise never enters.
    residual = masks * (y[None] - mu)
    scores = np.einsum("bnt,bntk->bnk", residual, lever)
    clusters = (n_cells > 0).sum(axis=1)
    cluster = np.swapaxes(scores, 1, 2) @ scores * (clusters / (clusters - 1))[:, None, None]
    return _Effects(log_ratio, expected, observed, covariance, cluster, dispersion, imputed)


def _fit_batches(panel: _Panel, masks, effect_units, effect_cells) -> _Effects:
    """``_fit`` in batches small enough to keep memory bounded."""
    size = max(1, _BATCH_CELLS // (panel.counts.size * max(1, effect_units.shape[1])))
    parts = [
        _fit(panel, masks[i : i + size], effect_units[i : i + size], effect_cells[i : i + size])
        for i in range(0, len(masks), size)
    ]
    if len(parts) == 1:
        return parts[0]
    return _Effects(
        *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Effects))
    )


def _untreated(panel: _Panel) -> np.ndarray:
    """The cells the main fit uses: every observed month except the targets' from their starts."""
    mask = panel.observed.copy()
    months = np.arange(len(panel.periods))
    for g in range(panel.n_targets):
        mask[g, months >= panel.start_index[g]] = False
    return mask


def _post_cells(panel: _Panel, g: int) -> np.ndarray:
    """Target ``g``'s observed months from its start."""
    return panel.observed[g] & (np.arange(len(panel.periods)) >= panel.start_index[g])


# --------------------------------------------------------------------------- placebos


@dataclass(frozen=True)
class _Placebos:
    """Placebo estimates and the drift variance each target gets from them."""

    frame: pd.DataFrame
    drift: np.ndarray  # per target
    df: np.ndarray  # per target
    groups: list[np.ndarray]  # per target: the rows of ``frame`` behind its drift


def _space_placebos(panel: _Panel, base: np.ndarray) -> _Placebos:
    """Every control treated like each target in turn (same months, same start)."""
    n_t = panel.n_targets
    controls = np.arange(n_t, len(panel.units))
    months = np.arange(len(panel.periods))
    keys: dict[tuple, int] = {}
    owner = np.empty(n_t, dtype=int)
    for g in range(n_t):
        key = (panel.observed[g].tobytes(), int(panel.start_index[g]))
        owner[g] = keys.setdefault(key, len(keys))
    masks, units, cells, labels = [], [], [], []
    for key, _ in sorted(keys.items(), key=lambda item: item[1]):
        g = int(np.flatnonzero(owner == keys[key])[0])
        window, start = panel.observed[g], panel.start_index[g]
        for j in controls:
            row = panel.observed[j] & window
            pre, post = row & (months < start), row & (months >= start)
            if not pre.any() or not post.any():
                continue
            mask = base.copy()
            mask[j] = pre
            masks.append(mask)
            units.append([j])
            cells.append(post[None, :])
            labels.append((keys[key], j))
    return _collect(panel, masks, units, cells, labels, owner, kind="space")


def _time_placebos(panel: _Panel, base: np.ndarray) -> _Placebos:
    """Each target's own fake starts in its pre-period (the real post left out)."""
    months = np.arange(len(panel.periods))
    masks, units, cells, labels = [], [], [], []
    for g in range(panel.n_targets):
        pre = panel.observed[g] & (months < panel.start_index[g])
        positions = np.flatnonzero(pre)
        for p in range(PLACEBO_BEFORE, len(positions) - PLACEBO_AFTER + 1):
            fake = positions[p]
            before, after = pre & (months < fake), pre & (months >= fake)
            if panel.counts[g, before].sum() == 0 or panel.counts[g, after].sum() == 0:
                continue
            mask = base.copy()
            mask[g] = before
            masks.append(mask)
            units.append([g])
            cells.append(after[None, :])
            labels.append((g, g, int(fake)))
    return _collect(panel, masks, units, cells, labels, np.arange(panel.n_targets), kind="time")


def _joint_placebos(
    panel: _Panel, base: np.ndarray, weights: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-studies: as many controls as targets take the targets' places at once.

    Each control of a block copies one target (its months, its start) and the
    block shares the remaining comparison, as the targets share theirs, so the
    pseudo-pooled estimate carries the same common drift of the comparison as
    the pooled one. Blocks come from seeded random partitions of the controls,
    about one block per control.

    Returns
    -------
    pooled, variance : numpy.ndarray
        Each pseudo-study's weighted log rate ratio and its sampling variance.
    """
    n_t = panel.n_targets
    controls = np.arange(n_t, len(panel.units))
    per = len(controls) // n_t
    # Keep a comparison of at least one control beside every block.
    if per < 1 or len(controls) <= n_t:
        return np.empty(0), np.empty(0)
    months = np.arange(len(panel.periods))
    rng = np.random.default_rng(seed)
    masks, units, cells = [], [], []
    for _ in range(-(-len(controls) // per)):
        order = rng.permutation(controls)
        for block in order[: per * n_t].reshape(per, n_t):
            mask, posts = base.copy(), []
            for g, j in enumerate(block):
                row = panel.observed[j] & panel.observed[g]
                pre, post = (
                    row & (months < panel.start_index[g]),
                    row & (months >= panel.start_index[g]),
                )
                mask[j] = pre
                posts.append(post)
            if all(mask[j].any() for j in block) and all(p.any() for p in posts):
                masks.append(mask)
                units.append(block)
                cells.append(np.array(posts))
    return _pooled_placebos(panel, masks, units, cells, weights)


def _pooled_placebos(
    panel: _Panel, masks: list, units: list, cells: list, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each joint placebo's weighted log rate ratio and its sampling variance, where finite.

    Parameters
    ----------
    panel : _Panel
    masks, units, cells : list of numpy.ndarray
        Per placebo fit: the cells it fits, the units given a step, and each
        step's cells (as :func:`_fit_batches` takes them).
    weights : numpy.ndarray
        The targets' weights in the pooled estimate.

    Returns
    -------
    pooled, variance : numpy.ndarray
    """
    if not masks:
        return np.empty(0), np.empty(0)
    fits = _fit_batches(panel, np.array(masks), np.array(units), np.array(cells))
    pooled = fits.log_ratio @ weights
    variance = np.einsum("g,bgh,h->b", weights, fits.covariance, weights)
    usable = np.isfinite(pooled) & np.isfinite(variance)
    return pooled[usable], variance[usable]


def _joint_time_placebos(
    panel: _Panel, base: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The targets together at common fake starts before their real ones.

    At every month that leaves each target at least ``PLACEBO_BEFORE`` months
    before it and ``PLACEBO_AFTER`` before its real start, all targets get a
    fake start in one fit; the weighted mean of their steps shows what the
    targets' joint drift does to the pooled estimate, including drift they share
    with each other and not with the controls.

    Returns
    -------
    pooled, variance : numpy.ndarray
        Each fake start's weighted log rate ratio and its sampling variance.
    """
    n_t = panel.n_targets
    months = np.arange(len(panel.periods))
    pre = np.array([panel.observed[g] & (months < panel.start_index[g]) for g in range(n_t)])
    before = np.cumsum(pre, axis=1) - pre  # pre-period months before each month
    after = pre.sum(axis=1, keepdims=True) - before  # pre-period months from each month on
    masks, units, cells = [], [], []
    for fake in np.flatnonzero(((before >= PLACEBO_BEFORE) & (after >= PLACEBO_AFTER)).all(axis=0)):
        mask = base.copy()
        mask[:n_t] = pre & (months < fake)
        masks.append(mask)
        units.append(np.arange(n_t))
        cells.append(pre & (months >= fake))
    return _pooled_placebos(panel, masks, units, cells, weights)


@dataclass(frozen=True)
class _Between:
    """The variance component between municipalities and what it adds to the pooled estimate."""

    tau2: float  # between municipalities, on the log scale
    variance: float  # what it adds to the pooled estimate's variance
    df: float
    municipalities: int


def _municipality_groups(
    panel: _Panel, municipalities: Mapping[str, str] | None
) -> list[np.ndarray]:
    """The targets' positions per municipality, in order of first appearance."""
    names = [str((municipalities or {}).get(t, "")) for t in panel.units[: panel.n_targets]]
    return [np.flatnonzero(np.array(names) == name) for name in dict.fromkeys(names)]


def _between_municipalities(
    log_ratio: np.ndarray,
    weights: np.ndarray,
    covariance: np.ndarray,
    groups: list[np.ndarray],
) -> _Between:
    """Method-of-moments variance between municipalities, for correlated estimates.

    Each municipality's estimate ``b_m`` is its targets' weighted mean, with
    weight ``W_m`` (its targets' share of the pooled estimate). The weighted
    spread ``Q = sum_m W_m (b_m - b)^2`` around the pooled ``b`` has expectation
    ``tr(A S) + tau2 (1 - sum W_m^2)`` with ``A = diag(W) - W W'`` and ``S`` the
    municipality estimates' covariance within the model (sampling and each
    target's drift), so ``tau2 = max(0, (Q - tr(A S)) / (1 - sum W_m^2))``: the
    generalised method of moments of DerSimonian & Kacker (2007, *Contemporary
    Clinical Trials* 28(2)). Drift common to every target (the comparison's)
    cancels in ``Q``. The pooled estimate gains ``tau2 sum W_m^2``, measured on
    ``M - 1`` degrees of freedom.
    """
    share = np.zeros((len(groups), len(weights)))
    for m, members in enumerate(groups):
        share[m, members] = weights[members] / weights[members].sum()
    big = np.array([weights[members].sum() for members in groups])
    estimates = share @ log_ratio
    within = share @ covariance @ share.T
    spread = float(big @ (estimates - big @ estimates) ** 2)
    a = np.diag(big) - np.outer(big, big)
    scale = 1.0 - float(big @ big)
    tau2 = max(0.0, (spread - float(np.trace(a @ within))) / scale)
    return _Between(tau2, tau2 * float(big @ big), float(len(groups) - 1), len(groups))


def _collect(panel, masks, units, cells, labels, owner, kind: str) -> _Placebos:
    """Fit the placebos; each target's drift variance from those that copy it.

    ``labels`` are ``(key, unit[, fake start])``; a target uses the placebos of
    its key (targets with the same months and start share them).
    """
    n_t = panel.n_targets
    keys, coef, se = np.empty(0, dtype=int), np.empty(0), np.empty(0)
    if masks:
        fits = _fit_batches(panel, np.array(masks), np.array(units), np.array(cells))
        keys = np.array([label[0] for label in labels])
        coef, se = fits.log_ratio[:, 0], np.sqrt(fits.covariance[:, 0, 0])
    usable = np.isfinite(coef) & np.isfinite(se)
    rows, drift, df, groups = [], np.zeros(n_t), np.zeros(n_t), []
    for g in range(n_t):
        mine = np.flatnonzero((keys == owner[g]) & usable)
        if len(mine) < MIN_PLACEBOS:
            if kind == "space":
                what = f"{len(mine)} usable placebo controls"
            else:
                what = (
                    f"{len(mine)} fake starts in its pre-period ({PLACEBO_BEFORE} months before "
                    f"and {PLACEBO_AFTER} after each)"
                )
            raise EstimationError(
                f"too few placebos to measure drift for target {panel.units[g]!r}: {what}; "
                f"at least {MIN_PLACEBOS} needed"
            )
        drift[g] = max(0.0, float(np.mean(coef[mine] ** 2) - np.mean(se[mine] ** 2)))
        df[g] = len(mine)
        groups.append(np.arange(len(rows), len(rows) + len(mine)))
        for i in mine:
            fake = labels[i][2] if kind == "time" else panel.start_index[g]
            rows.append(
                (panel.units[g], panel.units[labels[i][1]], panel.periods[fake], coef[i], se[i])
            )
    frame = pd.DataFrame(rows, columns=["target", "unit", "start", "log_ratio", "std_error"])
    return _Placebos(frame, drift, df, groups)


# --------------------------------------------------------------------------- the fit


def fit_panel(
    targets: Mapping[str, pd.DataFrame],
    starts: Mapping[str, pd.Period | str],
    controls: Mapping[str, pd.DataFrame],
    *,
    municipalities: Mapping[str, str] | None = None,
    nested: bool = True,
    inference: Inference = "placebo_space",
    level: float = 0.95,
    seed: int = 0,
) -> PanelFit:
    """Poisson ETWFE difference-in-differences of several targets against never-treated controls.

    Parameters
    ----------
    targets
        Target id -> monthly series: a DataFrame indexed by monthly periods
        with columns ``value`` (counts) and ``exposure`` (positive; a log
        offset). Months may be missing (e.g. a series cut before a later
        co-intervention).
    starts
        Target id -> first month of its intervention (starts may differ).
    controls
        Control id -> series of the same form: never-treated comparison areas.
        Only their months inside the targets' window are used; controls
        without events there are left out.
    municipalities
        Target id -> municipality. With targets in several municipalities the
        pooled estimate carries the variance between municipalities (see the
        module docstring); omitted, all targets are one municipality's.
    nested
        With targets in several municipalities: True estimates the effect in
        municipalities like these (the variance between municipalities added,
        t on M - 1 df); False the effect at these places, whose pooled drift is
        the comparison's alone (measured on pseudo-studies of controls), since
        drift that one municipality's targets share is independent between
        municipalities and already spreads their estimates.
    inference
        ``"placebo_space"`` (default), ``"placebo_time"``, ``"quasipoisson"``
        or ``"cluster"``; see ``INFERENCE`` and the module docstring.
    level
        Confidence level.
    seed
        Seed of the random partitions of the controls into pseudo-studies
        (pooled drift variance and placebo p-value).

    Returns
    -------
    PanelFit

    Raises
    ------
    EstimationError
        No target; a target with fewer than 12 months before or 3 from its
        start, or without events on one side; fewer than 2 controls with
        events; a month of the targets' window no control covers; too few
        placebo estimates for the drift variance.
    ValueError
        Malformed input: a series that is not a DataFrame with ``value`` and
        ``exposure`` by month, negative or missing counts, non-positive
        exposure, a target without a start or listed as a control too, an
        unknown ``inference``.
    """
    if inference not in INFERENCE:
        raise ValueError(f"inference must be one of {sorted(INFERENCE)}")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    panel, excluded = _build(targets, starts, controls)
    n_t = panel.n_targets
    base = _untreated(panel)
    cells = np.array([_post_cells(panel, g) for g in range(n_t)])
    main = _fit(panel, base[None], np.arange(n_t)[None], cells[None])
    log_ratio = main.log_ratio[0]
    expected = main.expected[0]
    if not np.isfinite(log_ratio).all() or (expected <= 0).any():
        raise EstimationError("the controls imply no expected events at a target after its start")
    covariance = main.cluster[0] if inference == "cluster" else main.covariance[0]
    sampling = main.covariance[0]

    weights = expected / expected.sum()
    pooled = float(weights @ log_ratio)

    drift, df = np.zeros(n_t), np.full(n_t, np.inf)
    placebos = pd.DataFrame(columns=["target", "unit", "start", "log_ratio", "std_error"])
    found = None
    joint = (np.empty(0), np.empty(0))
    if inference in ("placebo_space", "placebo_time"):
        found = (_space_placebos if inference == "placebo_space" else _time_placebos)(panel, base)
        drift, df, placebos = found.drift, found.df, found.frame
    elif inference == "cluster":
        df = np.full(n_t, float(len(panel.units) - 1))

    total = covariance + np.diag(drift)
    se = np.sqrt(np.diag(total))
    crit = stats.t.ppf(0.5 + level / 2, df)
    p_values = 2 * stats.t.sf(np.abs(log_ratio / se), df)
    pooled_drift = float(weights**2 @ drift)
    pooled_df = _pooled_df(weights, covariance, drift, df)
    history = (np.empty(0), np.empty(0))
    groups = _municipality_groups(panel, municipalities)
    between = _Between(0.0, 0.0, np.inf, len(groups))
    if inference == "placebo_space" and n_t > 1:
        # The targets share one comparison, whose own drift moves them together:
        # measured on pseudo-studies of controls that share theirs in the same way.
        joint = _joint_placebos(panel, base, weights, seed)
        if len(joint[0]) >= MIN_PLACEBOS:
            pooled_drift = max(0.0, float(np.mean(joint[0] ** 2) - np.mean(joint[1])))
            pooled_df = float(np.min(df))
        if len(groups) > 1:
            if nested:
                # What targets of one municipality share and no control shows (one town, one
                # police district), and how much municipalities' effects differ: the spread
                # between municipalities, over the real post-periods.
                between = _between_municipalities(
                    log_ratio, weights, sampling + np.diag(drift), groups
                )
        else:
            # One municipality: drift its targets share and no control shows can only be
            # seen in their own pre-period. Keep the larger measurement.
            history = _joint_time_placebos(panel, base, weights)
            if len(history[0]):
                own = float(np.mean(history[0] ** 2) - np.mean(history[1]))
                pooled_drift = max(pooled_drift, own)
    pooled_variance = float(weights @ covariance @ weights + pooled_drift)
    if between.variance > 0:
        # Once municipalities differ, the pooled uncertainty rests on their M estimates:
        # t(M - 1), as Hartung-Knapp's reference (Welch-Satterthwaite undercovers here).
        pooled_df = min(pooled_df, between.df)
        pooled_variance += between.variance
    pooled_se = float(np.sqrt(pooled_variance))
    pooled_crit = stats.t.ppf(0.5 + level / 2, pooled_df)
    pooled_p = float(2 * stats.t.sf(abs(pooled / pooled_se), pooled_df))

    target_p = np.full(n_t, np.nan)
    pooled_placebo_p = float("nan")
    if found is not None:
        b_all = placebos["log_ratio"].to_numpy(float)
        s_all = placebos["std_error"].to_numpy(float)
        for g in range(n_t):
            rows = found.groups[g]
            z = np.abs(b_all[rows]) / np.sqrt(s_all[rows] ** 2 + drift[g])
            # A relative tolerance so that statistics equal up to rounding count as ties.
            extreme = int(np.sum(z >= abs(log_ratio[g]) / se[g] * (1 - 1e-9)))
            target_p[g] = (1 + extreme) / (len(rows) + 1)
        if len(joint[0]):
            z = np.abs(joint[0]) / np.sqrt(joint[1] + pooled_drift)
            extreme = int(np.sum(z >= abs(pooled) / pooled_se * (1 - 1e-9)))
            pooled_placebo_p = (1 + extreme) / (len(z) + 1)

    months = np.arange(len(panel.periods))
    fits = []
    for g, name in enumerate(panel.units[:n_t]):
        row = panel.observed[g]
        post = months >= panel.start_index[g]
        counterfactual = main.imputed[0, g, row]
        ratio = float(np.exp(log_ratio[g]))
        fitted = pd.DataFrame(
            {
                "period": panel.periods[row],
                "observed": panel.counts[g, row],
                "fitted": np.where(post[row], counterfactual * ratio, counterfactual),
                "counterfactual": counterfactual,
            }
        )
        fits.append(
            TargetFit(
                target=name,
                start=panel.periods[panel.start_index[g]],
                n_pre=int((row & ~post).sum()),
                n_post=int((row & post).sum()),
                ratio=ratio,
                ci_low=float(np.exp(log_ratio[g] - crit[g] * se[g])),
                ci_high=float(np.exp(log_ratio[g] + crit[g] * se[g])),
                p_value=float(p_values[g]),
                log_ratio=float(log_ratio[g]),
                std_error=float(se[g]),
                sampling_std_error=float(np.sqrt(sampling[g, g])),
                drift_variance=float(drift[g]),
                df=float(df[g]),
                weight=float(weights[g]),
                expected_post=float(expected[g]),
                observed_post=float(main.observed[0, g]),
                dispersion=float(main.dispersion[0, g]),
                placebo_p_value=float(target_p[g]),
                fitted=fitted,
            )
        )
    return PanelFit(
        ratio=float(np.exp(pooled)),
        ci_low=float(np.exp(pooled - pooled_crit * pooled_se)),
        ci_high=float(np.exp(pooled + pooled_crit * pooled_se)),
        p_value=pooled_p,
        log_ratio=pooled,
        std_error=pooled_se,
        sampling_std_error=float(np.sqrt(weights @ sampling @ weights)),
        df=float(pooled_df),
        placebo_p_value=pooled_placebo_p,
        targets=tuple(fits),
        controls=panel.units[n_t:],
        inference=_label(
            inference,
            drift,
            df,
            pooled_df,
            len(panel.units) - n_t,
            len(joint[0]),
            len(history[0]),
            between,
        ),
        level=level,
        placebos=placebos,
        pooled_placebos=pd.DataFrame({"log_ratio": joint[0], "std_error": np.sqrt(joint[1])}),
        excluded=tuple(excluded),
        between_tau2=between.tau2,
        municipalities=between.municipalities,
    )


def _pooled_df(weights, covariance, drift, df) -> float:
    """Welch-Satterthwaite df of the pooled variance; the sampling part counts as known."""
    if not np.isfinite(df).any():
        return float(np.min(df))
    parts = weights**2 * drift
    if parts.sum() <= 0:
        return float(np.min(df))
    total = float(weights @ covariance @ weights + parts.sum())
    # The same placebo units stand behind every target's drift: never more df than one has.
    return float(min(total**2 / np.sum(parts**2 / df), np.max(df)))


def _label(inference, drift, df, pooled_df, n_controls, n_pseudo, n_history, between) -> str:
    """The inference in words, for ``PanelFit.inference`` and the method line."""
    if inference == "placebo_space":
        text = (
            f"quasi-Poisson errors plus a drift variance from {n_controls} placebo-in-space "
            f"controls (tau up to {np.sqrt(drift.max()):.3f})"
        )
        if n_pseudo:
            text += f"; for the pooled estimate from {n_pseudo} pseudo-studies of controls"
        if n_history:
            text += f" or, if larger, the targets' joint drift at {n_history} earlier fake starts"
        if between.municipalities > 1:
            text += (
                f", plus the variance between its {between.municipalities} municipalities "
                f"(tau {np.sqrt(between.tau2):.3f})"
            )
        return text + f", t({pooled_df:.0f})"
    if inference == "placebo_time":
        return (
            f"drift variance from {int(df.min())}-{int(df.max())} pre-period placebo steps per "
            f"target, t({pooled_df:.0f})"
        )
    if inference == "cluster":
        return f"cluster-robust by unit, t({int(df[0])})"
    return "quasi-Poisson, normal reference"


# --------------------------------------------------------------------------- results


def estimate_panel(
    targets: Mapping[str, pd.DataFrame],
    starts: Mapping[str, pd.Period | str],
    controls: Mapping[str, pd.DataFrame],
    *,
    indicator: str = "",
    municipality: str = "",
    municipalities: Mapping[str, str] | None = None,
    nested: bool = True,
    notes: Sequence[str] = (),
    target_notes: Mapping[str, Sequence[str]] | None = None,
    inference: Inference = "placebo_space",
    level: float = 0.95,
    seed: int = 0,
) -> list[Effect]:
    """The pooled rate ratio and each target's, as :class:`~pipeline.results.Effect` rows.

    Parameters
    ----------
    targets, starts, controls, nested, inference, level, seed
        As in :func:`fit_panel`.
    indicator
        Indicator id written on every row.
    municipality
        Municipality written on the pooled row.
    municipalities
        Target id -> municipality for the per-target rows (default
        ``municipality``).
    notes
        Caveats added to every row.
    target_notes
        Target id -> caveats of that target's row (e.g. its series cut before
        a co-intervention); the pooled row gets them too, prefixed by the id.

    Returns
    -------
    list of Effect
        The pooled estimate first (``place_id`` ``""``, ``n_pre``/``n_post``
        the targets' means rounded), then one per target in the order given.
    """
    municipalities = dict(municipalities or {})
    fit = fit_panel(
        targets,
        starts,
        controls,
        municipalities=municipalities,
        nested=nested,
        inference=inference,
        level=level,
        seed=seed,
    )
    target_notes = {str(t): tuple(n) for t, n in (target_notes or {}).items()}
    k, g = len(fit.controls), len(fit.targets)
    method = (
        f"Poisson difference-in-differences on a panel of {g} targets and {k} never-treated "
        "controls: unit and month fixed effects, exposure offset, an effect for every target "
        f"and month from its start (extended TWFE, Wooldridge 2023); {fit.inference}"
    )
    common = [
        *notes,
        "assumes targets and controls would have moved in parallel on the log scale and that "
        "nothing changed at a target before its start",
        "controls must not have been treated; declared shocks are absorbed by the month effects",
    ]
    if fit.excluded:
        common.append("controls left out: " + "; ".join(fit.excluded))
    weights = ", ".join(f"{t.target} {t.weight:.2f}" for t in fit.targets)
    pooled_notes = [
        *common,
        *(f"{t}: {note}" for t, own in target_notes.items() for note in own),
        "the targets' log rate ratios averaged with their expected post-period counts without "
        f"the measures as weights ({weights})",
        "n_pre and n_post are the targets' means",
    ]
    if np.isfinite(fit.placebo_p_value):
        pooled_notes.append(f"placebo-in-space p = {fit.placebo_p_value:.2f}")
    effects = [
        Effect(
            municipality=municipality,
            place_id="",
            indicator=indicator,
            design=NAME,
            estimand="rate_ratio",
            estimate=fit.ratio,
            ci_low=fit.ci_low,
            ci_high=fit.ci_high,
            p_value=fit.p_value,
            n_pre=int(round(np.mean([t.n_pre for t in fit.targets]))),
            n_post=int(round(np.mean([t.n_post for t in fit.targets]))),
            sms_level=SMS_LEVEL,
            method=method,
            level=level,
            placebo_p_value=fit.placebo_p_value,
            notes=tuple(pooled_notes),
        )
    ]
    for target in fit.targets:
        extra = [f"weight in the pooled estimate {target.weight:.2f}"]
        if np.isfinite(target.placebo_p_value):
            extra.append(f"placebo p = {target.placebo_p_value:.2f}")
        effects.append(
            Effect(
                municipality=municipalities.get(target.target, municipality),
                place_id=target.target,
                indicator=indicator,
                design=NAME,
                estimand="rate_ratio",
                estimate=target.ratio,
                ci_low=target.ci_low,
                ci_high=target.ci_high,
                p_value=target.p_value,
                n_pre=target.n_pre,
                n_post=target.n_post,
                sms_level=SMS_LEVEL,
                method=method,
                level=level,
                placebo_p_value=target.placebo_p_value,
                notes=(*common, *target_notes.get(target.target, ()), *extra),
                fitted=target.fitted,
            )
        )
    return effects


def _series(data: StudyData, place_id: str, indicator_id: str) -> pd.DataFrame:
    series = data.series
    return place_series(
        series[(series["place_id"] == place_id) & (series["indicator"] == indicator_id)]
    )


def panel_effects(
    data: StudyData, indicator_id: str, targets: list[Place], *, nested: bool = True
) -> list[Effect]:
    """The panel design for a study's targets against every control area of the study.

    Each target's series is cut before its first co-intervention after the
    start (as the evaluation does for the other designs). Every place with role
    ``control`` whose series has the indicator in every month of the targets'
    window is a comparison unit; the others are listed in the notes.

    Parameters
    ----------
    data
        The validated study.
    indicator_id
        A count indicator of the study.
    targets
        Places with role ``target`` (at least 2 with data).
    nested
        With targets in several municipalities, whether the pooled estimate is
        of the effect in municipalities like these (True) or at these places
        (False); see :func:`fit_panel`.

    Returns
    -------
    list of Effect
        The pooled estimate first, then one per target with data.

    Raises
    ------
    EstimationError
        Fewer than 2 targets or 2 controls with data for the indicator, or
        anything :func:`fit_panel` raises.
    ValueError
        A place that is not a target, or an indicator that is not a count.
    """
    indicator = data.study.indicator(indicator_id)
    if indicator.family != "count":
        raise ValueError(f"the panel design needs a count indicator; {indicator_id!r} is not")
    collected = target_series(data, indicator_id, targets)
    series, starts, municipality_of = collected.series, collected.starts, collected.municipality
    cut_notes = {t: list(cut) for t, cut in collected.cut.items()}
    notes, missing = [], collected.missing
    if missing:
        notes.append(f"targets without {indicator_id}: {', '.join(missing)}")
    if len(series) < MIN_TARGETS:
        raise EstimationError(
            f"the panel design needs at least {MIN_TARGETS} targets with {indicator_id}; "
            f"got {len(series)}"
        )
    first = min(f.index.min() for f in series.values())
    last = max(f.index.max() for f in series.values())
    window = pd.period_range(first, last, freq="M")
    controls, partial = {}, []
    for place in data.study.places:
        if place.role != "control":
            continue
        frame = _series(data, place.id, indicator_id).reindex(window)
        if frame["value"].notna().all():
            controls[place.id] = frame
        elif frame["value"].notna().any():
            partial.append(place.id)
    if partial:
        notes.append(f"controls not covering {first}-{last} left out: {', '.join(partial)}")
    if len(controls) < MIN_CONTROLS:
        raise EstimationError(
            f"the panel design needs at least {MIN_CONTROLS} control areas with {indicator_id} "
            f"in every month from {first} to {last}; got {len(controls)}"
        )
    names = sorted(set(municipality_of.values()))
    if len(names) > 1:
        notes.append("targets in " + ", ".join(names))
    return estimate_panel(
        series,
        starts,
        controls,
        indicator=indicator_id,
        municipality=names[0] if len(names) == 1 else "",
        municipalities=municipality_of,
        nested=nested,
        notes=notes,
        target_notes=cut_notes,
    )
