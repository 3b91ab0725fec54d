"""Pooled difference-in-differences for sparse panels: one rate ratio over all targets.

Hot spots, bus squares and shopping streets have a few crimes a month, many
zero months and short series. Per-target log rate ratios do not exist there
(a target with no event before or after its start has none), and keeping only
the targets that have one selects on the outcome. This design pools instead
of averaging: one Poisson model with unit and month effects over every target
and every comparison area, and one common effect of the measures::

    log E[y_it] = log(exposure_it) + a_i + g_t + delta * [i is a target, t >= start_i]

Its score equation for ``delta`` makes the pooled rate ratio a ratio of sums,

    exp(delta) = sum over treated cells of y / sum over treated cells of exp(offset + a_i + g_t),

the targets' observed count from their starts over the count the model
expects without the measures; zero months and targets without events before
or after enter like any other cell. With one common start this is the plain
Poisson fixed-effects estimate (``statsmodels`` with unit and month dummies
gives the same number). With staggered starts the data are *stacked*: one
sub-panel per start month, holding the targets starting then and every
never-treated area, each with its own unit and month effects and one common
``delta``, so a target that has already started never serves as another
target's comparison (Cengiz, Dube, Lindner & Zipperer 2019, *Quarterly Journal
of Economics* 134(3)).

Inference is by randomisation over units (Fisher 1935; for difference-in-
differences with few treated units Conley & Taber 2011, *Review of Economics
and Statistics* 93(1)): the p-value ranks the estimate among the estimates
obtained when the targets' starts are given to other units drawn at random
from all units (every draw when there are few), which is exact under the
sharp null of no effect anywhere whatever the dispersion, drift or zero
months. Each estimate is studentised by the Poisson error of its treated
units' own counts before and after, so that drawing larger or smaller units
than the targets does not widen or narrow the comparison. The interval is
the inversion of that test: the ratios ``r`` it does not reject when the
hypothesis is "the measures multiplied the targets' rate by ``r``" (the
targets' counts from their starts divided by ``r``, the same assignments
refitted, the targets' studentised estimate, now the estimate minus
``log r``, ranked among theirs). Each end is found by regula falsi (the
Illinois variant) on how far the targets' statistic lies beyond the draws'
(a continuous function of ``log r``), and ratio 1, where the test is the
test of no effect, brackets the end on its side: the interval excludes 1
exactly when the p-value is below ``1 - level``. Every ratio tried costs one
refit of every assignment; the refits start from the previous ratio's.
Where too few units make the smallest attainable p-value reach the test
level, no estimate is reported.
A cluster bootstrap over units (targets and areas resampled separately) is
reported beside it as a check.

What it can show: a change at the targets from their starts beyond the change
at the comparison areas in the same months, on average over the targets,
weighted by their expected counts (SMS level 3). What it cannot: an effect per
target; that areas not chosen are exchangeable with the targets is the
assumption the randomisation rests on, so comparison areas should resemble the
targets (the same kind of place, the same town).

The fit, the randomisation over units, its inversion into the interval and the
cluster bootstrap stay in one module (over 500 lines): all of them refit the
same stacked panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..inputs.prepare import StudyData
from ..inputs.study import Place
from ..results import Effect
from .base import place_series, target_series
from .panel import checked_series, stack_series

NAME = "pooled_did"
SMS_LEVEL = 3
MIN_TARGETS = 1
MIN_CONTROLS = 1
DRAWS = 199  # as validated; the interval refits every one at each ratio tried
BOOTSTRAP = 199
MAX_EXACT = 1000  # assignments enumerated exactly up to this number

_MAX_ITERATIONS = 100
_STEP_TOLERANCE = 1e-9
_BATCH_CELLS = 1_000_000
_ROOT_TOLERANCE = 1e-3  # log ratio: the interval's ends to 0.1 %
_MAX_ROOT_STEPS = 30
_MAX_LOG_DISTANCE = 12.0  # an end further from the estimate is reported as 0 or infinity


@dataclass(frozen=True)
class PooledFit:
    """The pooled rate ratio of a sparse panel, with its randomisation inference.

    Attributes
    ----------
    ratio, ci_low, ci_high : float
        Pooled rate ratio (observed over expected count in the targets' treated
        months) and its randomisation interval: the ratios the randomisation
        test, over the same assignments, does not reject.
    p_value : float
        Randomisation p-value for no effect, ``(1 + #draws at least as
        extreme) / (draws + 1)``.
    min_p_value : float
        The smallest p-value the randomisation can give.
    exact : bool
        Whether every assignment was enumerated (else ``draws`` random ones).
    draws : int
        Number of assignments compared (the observed one excluded).
    ratios_tested : int
        Ratios at which the test was repeated over the same assignments (1
        included) to find the interval's ends; each costs ``draws`` fits.
    observed, expected : float
        Targets' count from their starts, and the count expected without the
        measures.
    bootstrap_low, bootstrap_high, bootstrap_se : float
        Percentile interval and standard error (log scale) of the cluster
        bootstrap over units.
    n_targets, n_controls : int
        Units in the fit.
    n_pre, n_post : int
        Months before and from the start, the targets' means rounded.
    stacks : int
        Number of start months (sub-panels stacked).
    level : float
        Confidence level.
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    min_p_value: float
    exact: bool
    draws: int
    ratios_tested: int
    observed: float
    expected: float
    bootstrap_low: float
    bootstrap_high: float
    bootstrap_se: float
    n_targets: int
    n_controls: int
    n_pre: int
    n_post: int
    stacks: int
    level: float


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class _Panel:
    """Units x months; ``start`` is a month position for targets and -1 for areas."""

    units: tuple[str, ...]
    periods: pd.PeriodIndex
    counts: np.ndarray
    exposure: np.ndarray
    observed: np.ndarray
    start: np.ndarray


def _layout(panel: _Panel, start: np.ndarray):
    """Stacked rows for one assignment of starts to units.

    Returns the units' row numbers, and exposure, observed and treated masks
    (rows x months) and each row's stack; a sub-panel per distinct start holds
    the units starting then and every unit never starting.
    """
    never = np.flatnonzero(start < 0)
    rows, stack_of = [], []
    for k, s in enumerate(np.unique(start[start >= 0])):
        members = np.concatenate([np.flatnonzero(start == s), never])
        rows.append(members)
        stack_of.append(np.full(len(members), k))
    rows = np.concatenate(rows)
    months = np.arange(panel.counts.shape[1])
    treated = (start[rows, None] >= 0) & (months[None, :] >= start[rows, None])
    observed = panel.observed[rows]
    return rows, panel.exposure[rows], observed, treated & observed, np.concatenate(stack_of)


def _stack(panel: _Panel, start: np.ndarray):
    """Counts, exposure, observed and treated (rows x months) and stacks of one assignment."""
    rows, *rest = _layout(panel, start)
    return (panel.counts[rows], *rest)


def _fit_batch(y, exposure, observed, treated, stack_of, initial=None):
    """Common log rate ratio of Poisson fits with unit and (per stack) month effects.

    All arrays carry a leading batch axis: ``y``, ``exposure``, ``observed``,
    ``treated`` are (b, rows, months), ``stack_of`` (b, rows). ``initial`` is
    the state a previous call returned for the same layout (a warm start when
    only the counts changed a little). Returns the log rate ratio per fit
    (``-inf`` without treated events, NaN where the fit does not converge) and
    the state to start the next call from.

    The unit effects have a closed form given the others (each unit's fitted
    total equals its observed total), so they are profiled out: what remains
    is one multinomial log-linear model per unit over its months, concave in
    the log month effects and the effect. Newton's method solves it; its
    Hessian is block-diagonal in the stacks' month effects with one border
    row for the effect, so each step solves small months x months systems.
    """
    b, n, m = y.shape
    n_stacks = int(stack_of.max()) + 1
    onehot = (stack_of[:, :, None] == np.arange(n_stacks)[None, None, :]).astype(float)
    to_stack = np.swapaxes(onehot, 1, 2)  # b x S x n
    weight = observed * exposure
    treated = treated & observed
    ym = observed * y
    row_y = ym.sum(axis=2)
    col_y = to_stack @ ym
    treated_y = (treated * y).sum(axis=(1, 2))
    has_weight = (to_stack @ weight) > 0
    free = (col_y > 0) & has_weight  # months with events: their effect is finite
    fixed = ~free
    has_effect = treated_y > 0
    inverse_rows = np.where(row_y > 0, 1 / np.where(row_y > 0, row_y, 1.0), 0.0)
    identity = np.eye(m)
    if initial is None:
        log_g, delta = np.zeros((b, n_stacks, m)), np.zeros(b)
    else:
        log_g, delta = (np.array(part) for part in initial)
    converged = np.zeros(b, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(_MAX_ITERATIONS):
            g = np.where(free, np.exp(log_g), 0.0)
            lift = np.where(has_effect, np.exp(delta), 0.0)[:, None, None]
            cells = weight * np.take_along_axis(g, stack_of[:, :, None], axis=1)
            cells = np.where(treated, cells * lift, cells)
            total = cells.sum(axis=2, keepdims=True)
            fitted = np.where(total > 0, cells * (row_y[:, :, None] / total), 0.0)
            fitted_treated = np.where(treated, fitted, 0.0)
            per_row_treated = fitted_treated.sum(axis=2)
            # Score and the information's blocks: diagonal minus the units' outer products.
            score_g = np.where(free, col_y - to_stack @ fitted, 0.0)
            score_d = np.where(has_effect, treated_y - per_row_treated.sum(axis=1), 0.0)
            scaled = fitted * np.sqrt(inverse_rows)[:, :, None]
            by_stack = to_stack[:, :, :, None] * scaled[:, None, :, :]  # b x S x n x m
            block = -(np.swapaxes(by_stack, 2, 3) @ scaled[:, None, :, :])
            block += (to_stack @ fitted)[..., None] * identity
            block += (free[..., :, None] & free[..., None, :]) * 1.0  # the level a unit fixes
            block = np.where(fixed[..., :, None] | fixed[..., None, :], 0.0, block)
            block += fixed[..., None] * identity
            border = (to_stack @ fitted_treated) - to_stack @ (
                fitted * (per_row_treated * inverse_rows)[:, :, None]
            )
            border = np.where(free, border, 0.0)
            corner = per_row_treated.sum(axis=1) - (per_row_treated**2 * inverse_rows).sum(axis=1)
            corner = np.where(has_effect, corner, 1.0)
            solved = np.linalg.solve(block, np.stack([score_g, border], axis=-1))
            reduced = corner - (border * solved[..., 1]).sum(axis=(1, 2))
            step_d = (score_d - (border * solved[..., 0]).sum(axis=(1, 2))) / reduced
            step_d = np.where(has_effect & np.isfinite(step_d), step_d, 0.0)
            step_g = solved[..., 0] - solved[..., 1] * step_d[:, None, None]
            step_g = np.where(free & np.isfinite(step_g), step_g, 0.0)
            largest = np.maximum(np.abs(step_g).max(axis=(1, 2)), np.abs(step_d))
            damp = np.minimum(1.0, 2.0 / np.maximum(largest, 1e-300))  # no step beyond e^2
            keep = ~converged
            log_g = log_g + (damp * keep)[:, None, None] * step_g
            delta = delta + damp * keep * step_d
            converged |= largest < _STEP_TOLERANCE
            if converged.all():
                break
    state = (log_g, delta)
    delta = np.where(converged & (np.abs(delta) < 50), delta, np.nan)
    return np.where(has_effect, delta, -np.inf), state


def _fit_parts(parts) -> np.ndarray:
    """``_fit_batch`` over stacked panels, in batches of equal shape and bounded memory."""
    return np.concatenate(
        [
            _fit_batch(*(np.stack(arrays) for arrays in zip(*batch, strict=True)))[0]
            for batch in _batches(parts)
        ]
    )


def _batches(parts) -> list[list]:
    """Consecutive parts of equal shape, in groups of at most ``_BATCH_CELLS`` cells."""
    out: list[list] = []
    for part in parts:
        if (
            not out
            or part[1].shape != out[-1][0][1].shape
            or (len(out[-1]) + 1) * part[1].size > _BATCH_CELLS
        ):
            out.append([])
        out[-1].append(part)
    return out


class _Refits:
    """The fits of many assignments of starts, laid out once and refitted for any counts.

    Each refit starts from the previous one's unit and month effects, so a
    series of nearby counts (the test repeated at nearby ratios) converges in
    few sweeps.
    """

    def __init__(self, panel: _Panel, starts: Sequence[np.ndarray]):
        self.starts = np.array(starts)
        self._batches = []
        for batch in _batches(_layout(panel, s) for s in starts):
            rows, *layout = (np.stack(arrays) for arrays in zip(*batch, strict=True))
            self._batches.append([rows, layout, None])
        self.fits = 0

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """The log rate ratio of every assignment for these counts (units x months)."""
        out = []
        for batch in self._batches:
            rows, layout, state = batch
            delta, batch[2] = _fit_batch(counts[rows], *layout, initial=state)
            out.append(delta)
        self.fits += len(self.starts)
        return np.concatenate(out)


# --------------------------------------------------------------------------- inference


def _assignments(panel: _Panel, draws: int, rng) -> tuple[list[np.ndarray], bool, int]:
    """Starts given to other units: every assignment when few, else ``draws`` random ones.

    Returns the assignments (the observed one left out), whether they are all
    of them, and the number of distinct assignments there are.
    """
    n = len(panel.units)
    target_starts = panel.start[panel.start >= 0]
    k = len(target_starts)
    distinct_starts = np.unique(target_starts)
    # Distinct assignments: the units chosen, times the ways to share the starts among them.
    total = comb(n, k)
    remaining = k
    for s in distinct_starts:
        c = int((target_starts == s).sum())
        total *= comb(remaining, c)
        remaining -= c
    observed_key = panel.start.tobytes()
    if len(distinct_starts) == 1 and total - 1 <= MAX_EXACT:
        out = []
        for chosen in combinations(range(n), k):
            start = np.full(n, -1)
            start[list(chosen)] = distinct_starts[0]
            if start.tobytes() != observed_key:
                out.append(start)
        return out, True, total
    out = []
    for _ in range(draws):
        start = np.full(n, -1)
        start[rng.choice(n, size=k, replace=False)] = rng.permutation(target_starts)
        out.append(start)
    return out, False, total


def _scales(panel: _Panel, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Poisson standard error of the treated units' log after/before ratio (plus a half).

    One per assignment: ``starts`` is assignments x units (-1 for never).
    """
    n = counts.shape[0]
    cumulative = np.zeros((n, counts.shape[1] + 1))
    np.cumsum(np.where(panel.observed, counts, 0.0), axis=1, out=cumulative[:, 1:])
    treated = starts >= 0
    before_each = cumulative[np.arange(n)[None, :], np.where(treated, starts, 0)]
    before = np.where(treated, before_each, 0.0).sum(axis=1)
    after = np.where(treated, cumulative[None, :, -1] - before_each, 0.0).sum(axis=1)
    return np.sqrt(1 / (after + 0.5) + 1 / (before + 0.5))


def _magnitudes(draws: np.ndarray) -> np.ndarray:
    """How far the assignments' statistics lie from 0, a fit without a finite estimate farthest.

    No treated event gives ``-inf``; no event of the treated units before
    their starts drives the fit towards ``+inf``, where it stops at a large
    ratio or without converging (NaN). Either is as extreme as any statistic
    can be, and a failed fit must never count as less extreme than the
    targets' own (whose fit cannot fail: it is refused).
    """
    return np.abs(np.nan_to_num(draws, nan=np.finfo(float).max))


def _rank_p(statistic: float, draws: np.ndarray) -> float:
    """Two-sided randomisation p-value, ties (up to rounding) counted as extreme."""
    extreme = np.sum(_magnitudes(draws) >= abs(statistic) * (1 - 1e-9))
    return float((1 + extreme) / (len(draws) + 1))


def _bootstrap(panel: _Panel, replicates: int, level: float, rng) -> tuple[float, float, float]:
    """Cluster bootstrap over units, targets and areas resampled separately."""
    targets = np.flatnonzero(panel.start >= 0)
    areas = np.flatnonzero(panel.start < 0)

    def resampled():
        for _ in range(replicates):
            rows = np.concatenate(
                [rng.choice(targets, size=len(targets)), rng.choice(areas, size=len(areas))]
            )
            sample = _Panel(
                tuple(panel.units[i] for i in rows),
                panel.periods,
                panel.counts[rows],
                panel.exposure[rows],
                panel.observed[rows],
                panel.start[rows],
            )
            yield _stack(sample, sample.start)

    estimates = _fit_parts(resampled())
    estimates = np.asarray(estimates)
    finite = estimates[np.isfinite(estimates)]
    if len(finite) < 0.9 * replicates:
        return float("nan"), float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(np.exp(low)), float(np.exp(high)), float(np.std(finite, ddof=1))


def _extremes_needed(level: float, draws: int) -> int:
    """How many draws at least as extreme keep the p-value at or above ``1 - level``."""
    return max(0, int(np.ceil((1 - level) * (draws + 1) - 1 - 1e-9)))


class _Inversion:
    """The randomisation test of "the measures multiplied the targets' rate by r".

    For a ratio ``r`` the targets' counts from their starts are divided by
    ``r`` and the same assignments refitted; the test keeps ``r`` while at
    least ``needed`` of them give a studentised estimate at least as far from
    0 as the targets' own (which is the estimate minus ``log r``). At ``r = 1``
    this is the test of no effect.
    """

    def __init__(self, panel: _Panel, refits: _Refits, estimate: float, needed: int):
        months = np.arange(panel.counts.shape[1])
        self._after = (panel.start[:, None] >= 0) & (months[None, :] >= panel.start[:, None])
        self._panel, self._refits = panel, refits
        self.null_starts = refits.starts
        self.estimate, self.needed = estimate, needed
        self.tried = 0

    def statistics(self, log_ratio: float) -> tuple[float, np.ndarray]:
        """The targets' studentised estimate and the assignments', under ratio ``exp(log_ratio)``."""
        panel = self._panel
        counts = np.where(self._after, panel.counts * np.exp(-log_ratio), panel.counts)
        observed = (self.estimate - log_ratio) / _scales(panel, panel.start[None, :], counts)[0]
        null = self._refits(counts) / _scales(panel, self._refits.starts, counts)
        self.tried += 1
        return float(observed), null

    def excess(self, log_ratio: float) -> float:
        """Positive where the test rejects the ratio: the targets' distance beyond the draws'."""
        observed, null = self.statistics(log_ratio)
        return self.distance(observed, null)

    def distance(self, observed: float, null: np.ndarray) -> float:
        """How far ``observed`` lies beyond the ``needed``-th most extreme draw (as ``_rank_p``)."""
        spread = np.sort(_magnitudes(null))
        return abs(observed) * (1 - 1e-9) - spread[-self.needed]

    def end(self, direction: int, at_estimate: float, at_one: float, step: float) -> float:
        """The log ratio where the test starts to reject, above (+1) or below (-1) the estimate.

        ``at_estimate`` and ``at_one`` are :meth:`excess` at the estimate and at
        ratio 1; ratio 1 brackets the end on its side, so the interval excludes
        1 exactly when the p-value is below the level.
        """
        kept, kept_excess = self.estimate, at_estimate
        if direction * (0.0 - self.estimate) > 0:
            if at_one > 0:
                return _root(self.excess, kept, kept_excess, 0.0, at_one)
            kept, kept_excess = 0.0, at_one
        while True:
            beyond = kept + direction * step
            if abs(beyond - self.estimate) > _MAX_LOG_DISTANCE:
                return direction * np.inf
            beyond_excess = self.excess(beyond)
            if beyond_excess > 0:
                return _root(self.excess, kept, kept_excess, beyond, beyond_excess)
            kept, kept_excess, step = beyond, beyond_excess, 2 * step


def _root(excess, kept, kept_excess, beyond, beyond_excess) -> float:
    """Where ``excess`` turns positive between a kept and a rejected log ratio (Illinois)."""
    last = 0
    for _ in range(_MAX_ROOT_STEPS):
        if abs(beyond - kept) < _ROOT_TOLERANCE:
            break
        x = kept - kept_excess * (beyond - kept) / (beyond_excess - kept_excess)
        value = excess(x)
        if value > 0:
            beyond, beyond_excess = x, value
            if last == -1:
                kept_excess /= 2
            last = -1
        else:
            kept, kept_excess = x, value
            if last == 1:
                beyond_excess /= 2
            last = 1
    return kept - kept_excess * (beyond - kept) / (beyond_excess - kept_excess)


def _randomisation(panel: _Panel, level: float, draws: int, rng) -> tuple[_Inversion, bool, float]:
    """The estimate and its randomisation test over units, ready to be run at any ratio.

    Returns the test, whether every assignment was enumerated, and the smallest
    attainable p-value.

    Raises
    ------
    EstimationError
        No finite estimate, or too few assignments for a p-value below ``1 - level``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1; got {level}")
    estimate = float(_fit_parts([_stack(panel, panel.start)])[0])
    if not np.isfinite(estimate):
        raise EstimationError("the pooled Poisson fit has no finite rate ratio")
    assignments, exact, total = _assignments(panel, draws, rng)
    min_p = 1 / total if exact else max(1 / total, 1 / (len(assignments) + 1))
    needed = _extremes_needed(level, len(assignments))
    if needed == 0:
        raise EstimationError(
            f"{len(panel.units)} units with {int((panel.start >= 0).sum())} target(s) allow only "
            f"{total} assignments: the smallest attainable randomisation p-value, {min_p:.3f}, "
            f"does not go below {1 - level:g}; add comparison areas"
        )
    # Studentised: each estimate over the Poisson error of its targets' own counts, so
    # assignments of larger or smaller units than the targets compare on one scale.
    return _Inversion(panel, _Refits(panel, assignments), estimate, needed), exact, float(min_p)


def randomisation_p_value(
    targets: Mapping[str, pd.DataFrame],
    starts: Mapping[str, pd.Period | str],
    controls: Mapping[str, pd.DataFrame],
    *,
    ratio: float = 1.0,
    level: float = 0.95,
    draws: int = DRAWS,
    seed: int = 0,
) -> float:
    """The randomisation p-value of "the measures multiplied the targets' rate by ``ratio``".

    The test :func:`fit_pooled_did` reports (``ratio`` 1) and inverts into its
    interval (its interval excludes ``ratio`` exactly when this is below
    ``1 - level``), without the interval and the bootstrap: one refit of every
    assignment instead of one per ratio tried, so its level can be measured on
    many replicates. With the same ``draws`` and ``seed`` the assignments, and
    at ``ratio`` 1 the p-value, are those of :func:`fit_pooled_did`.

    Parameters
    ----------
    targets, starts, controls, level, draws, seed
        As in :func:`fit_pooled_did`.
    ratio
        The hypothesised rate ratio: the targets' counts from their starts are
        divided by it before the test of no effect.

    Returns
    -------
    float
        ``(1 + #assignments at least as extreme) / (assignments + 1)``.

    Raises
    ------
    EstimationError, ValueError
        As :func:`fit_pooled_did` raises them.
    """
    if not ratio > 0 or not np.isfinite(ratio):
        raise ValueError(f"ratio must be a positive number; got {ratio}")
    panel = _build(targets, starts, controls)
    inversion, _, _ = _randomisation(panel, level, draws, np.random.default_rng(seed))
    return _rank_p(*inversion.statistics(float(np.log(ratio))))


# --------------------------------------------------------------------------- input


def _build(
    targets: Mapping[str, pd.DataFrame],
    starts: Mapping[str, pd.Period | str],
    controls: Mapping[str, pd.DataFrame],
) -> _Panel:
    """Checked units x months arrays over the union of the series' months."""
    if not isinstance(targets, Mapping) or not isinstance(controls, Mapping):
        raise ValueError("targets and controls must be mappings of id -> series")
    overlap = sorted({str(t) for t in targets} & {str(c) for c in controls})
    if overlap:
        raise ValueError(f"a target cannot be a control too: {', '.join(overlap)}")
    if len(targets) < MIN_TARGETS or len(controls) < MIN_CONTROLS:
        raise EstimationError(
            f"the pooled difference-in-differences needs at least {MIN_TARGETS} target and "
            f"{MIN_CONTROLS} comparison area; got {len(targets)} and {len(controls)}"
        )
    names = [str(name) for name in [*targets, *controls]]
    series = [checked_series(str(n), f) for n, f in [*targets.items(), *controls.items()]]
    counts, exposure, observed = stack_series(series)
    first = min(int(one.months[0]) for one in series if len(one.months))
    n, m = counts.shape
    periods = pd.period_range(pd.Period(ordinal=first, freq="M"), periods=m, freq="M")
    start = np.full(n, -1)
    for i, name in enumerate(names[: len(targets)]):
        try:
            month = pd.Period(starts[name], freq="M")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"no intervention start (a month) for target {name!r}") from exc
        position = month.ordinal - first
        months = np.flatnonzero(observed[i])
        if not ((months < position).any() and (months >= position).any()):
            raise EstimationError(f"target {name!r} has no month before or no month from {month}")
        start[i] = position
    panel = _Panel(tuple(names), periods, counts, exposure, observed, start)
    months = np.arange(m)
    targets_rows = start >= 0
    after = observed & (months[None, :] >= start[:, None]) & targets_rows[:, None]
    before = observed & (months[None, :] < start[:, None]) & targets_rows[:, None]
    if counts[before].sum() == 0 or counts[after].sum() == 0:
        raise EstimationError(
            "the targets together have no events "
            + ("before their starts" if counts[before].sum() == 0 else "from their starts")
            + ": no ratio can be estimated"
        )
    if counts[~targets_rows].sum() == 0:
        raise EstimationError("the comparison areas have no events: no ratio can be estimated")
    return panel


# --------------------------------------------------------------------------- results


def fit_pooled_did(
    targets: Mapping[str, pd.DataFrame],
    starts: Mapping[str, pd.Period | str],
    controls: Mapping[str, pd.DataFrame],
    *,
    level: float = 0.95,
    draws: int = DRAWS,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> PooledFit:
    """Fit the pooled Poisson difference-in-differences and its randomisation inference.

    Parameters
    ----------
    targets
        Target id -> monthly series (``PeriodIndex``, columns ``value`` and
        ``exposure``); zero months and short series are fine.
    starts
        Target id -> first month of the measures.
    controls
        Comparison-area id -> monthly series; never treated.
    level
        Confidence level of the interval and the test.
    draws
        Random assignments of the starts to units when there are too many to
        enumerate.
    bootstrap
        Cluster-bootstrap replicates of the check (0: none).
    seed
        Seed of the random assignments and the bootstrap.

    Returns
    -------
    PooledFit

    Raises
    ------
    EstimationError
        No events at the targets before or from their starts, none at the
        comparison areas, or too few units for the randomisation to reach
        ``1 - level``.
    ValueError
        Malformed series or starts.
    """
    panel = _build(targets, starts, controls)
    rng = np.random.default_rng(seed)
    inversion, exact, min_p = _randomisation(panel, level, draws, rng)
    estimate = inversion.estimate
    # The interval is every ratio the same test, with the same assignments, keeps.
    observed, null = inversion.statistics(0.0)
    p_value = _rank_p(observed, null)
    at_one = inversion.distance(observed, null)
    at_estimate = inversion.excess(estimate)
    step = max(abs(at_estimate) * abs(estimate / observed), _ROOT_TOLERANCE) if observed else 0.1
    ci_low = float(np.exp(inversion.end(-1, at_estimate, at_one, step)))
    ci_high = float(np.exp(inversion.end(1, at_estimate, at_one, step)))
    y, _, _, treated, _ = _stack(panel, panel.start)
    months = np.arange(len(panel.periods))
    boot = (float("nan"),) * 3
    if bootstrap:
        boot = _bootstrap(panel, bootstrap, level, rng)
    observed_count = float((treated * y).sum())
    is_target = panel.start >= 0
    pre = [(panel.observed[i] & (months < panel.start[i])).sum() for i in np.flatnonzero(is_target)]
    post = [
        (panel.observed[i] & (months >= panel.start[i])).sum() for i in np.flatnonzero(is_target)
    ]
    return PooledFit(
        ratio=float(np.exp(estimate)),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        min_p_value=float(min_p),
        exact=exact,
        draws=len(inversion.null_starts),
        ratios_tested=inversion.tried,
        observed=observed_count,
        expected=observed_count / float(np.exp(estimate)),
        bootstrap_low=boot[0],
        bootstrap_high=boot[1],
        bootstrap_se=boot[2],
        n_targets=int(is_target.sum()),
        n_controls=int((~is_target).sum()),
        n_pre=int(round(np.mean(pre))),
        n_post=int(round(np.mean(post))),
        stacks=len(np.unique(panel.start[is_target])),
        level=level,
    )


def estimate_pooled_did(
    targets: Mapping[str, pd.DataFrame],
    starts: Mapping[str, pd.Period | str],
    controls: Mapping[str, pd.DataFrame],
    *,
    indicator: str = "",
    municipality: str = "",
    notes: Sequence[str] = (),
    level: float = 0.95,
    seed: int = 0,
) -> Effect:
    """The pooled rate ratio as an :class:`~pipeline.results.Effect` row (empty ``place_id``).

    Parameters
    ----------
    targets, starts, controls, level, seed
        As in :func:`fit_pooled_did`.
    indicator, municipality
        Written on the row.
    notes
        Caveats added to the row.

    Returns
    -------
    Effect
    """
    fit = fit_pooled_did(targets, starts, controls, level=level, seed=seed)
    how = f"all {fit.draws} other assignments" if fit.exact else f"{fit.draws} random assignments"
    stacked = f", stacked by {fit.stacks} start months" if fit.stacks > 1 else ""
    method = (
        f"Poisson difference-in-differences pooled over {fit.n_targets} targets and "
        f"{fit.n_controls} comparison areas: unit and month effects, exposure offset, one "
        f"common effect (a ratio of observed to expected counts){stacked}; randomisation "
        f"over units ({how} of the starts to units; smallest attainable p "
        f"{fit.min_p_value:.3g}), interval: the ratios the same test does not reject"
    )
    row_notes = [
        *notes,
        f"observed {fit.observed:.1f} events at the targets from their starts against "
        f"{fit.expected:.1f} expected without the measures",
        "assumes the comparison areas are exchangeable with the targets and would have moved "
        "in parallel on the log scale; no effect per target",
    ]
    if np.isfinite(fit.bootstrap_low):
        row_notes.append(
            f"cluster bootstrap over units (check): {fit.bootstrap_low:.2f}-"
            f"{fit.bootstrap_high:.2f}"
        )
    return Effect(
        municipality=municipality,
        place_id="",
        indicator=indicator,
        design=NAME,
        estimand="rate_ratio",
        estimate=fit.ratio,
        ci_low=fit.ci_low,
        ci_high=fit.ci_high,
        p_value=fit.p_value,
        n_pre=fit.n_pre,
        n_post=fit.n_post,
        sms_level=SMS_LEVEL,
        method=method,
        level=level,
        notes=tuple(row_notes),
    )


def pooled_did_effect(data: StudyData, indicator_id: str, targets: Sequence[Place]) -> Effect:
    """The pooled difference-in-differences of a study's targets against its comparison areas.

    Every target with the indicator enters, whatever its events (no selection
    on the outcome), its series cut before a co-intervention after its start.
    The comparison areas are every place with role ``control`` that has the
    indicator (gaps are fine: a missing month is left out of the fit).

    Parameters
    ----------
    data
        The validated study.
    indicator_id
        A count indicator of the study.
    targets
        Places with role ``target``.

    Returns
    -------
    Effect
        The pooled rate ratio, ``place_id`` empty.

    Raises
    ------
    EstimationError
        No target or comparison area with the indicator, or anything
        :func:`fit_pooled_did` raises.
    ValueError
        A place that is not a target, or an indicator that is not a count.
    """
    indicator = data.study.indicator(indicator_id)
    if indicator.family != "count":
        raise ValueError(f"the pooled design needs a count indicator; {indicator_id!r} is not")
    collected = target_series(data, indicator_id, targets)
    notes = [f"{t}: {note}" for t, cut in collected.cut.items() for note in cut]
    rows = data.series[data.series["indicator"] == indicator_id]
    by_place = {str(k): g for k, g in rows.groupby("place_id", sort=False)}
    controls = {
        p.id: place_series(by_place[p.id])
        for p in data.study.places
        if p.role == "control" and p.id in by_place
    }
    municipalities = set(collected.municipality.values())
    names = sorted(municipalities)
    if len(names) > 1:
        notes.append("targets in " + ", ".join(names))
    return estimate_pooled_did(
        collected.series,
        collected.starts,
        controls,
        indicator=indicator_id,
        municipality=names[0] if len(names) == 1 else "",
        notes=notes,
    )
