"""Survey difference-in-differences with the area as the unit of inference.

A survey of perceived safety asks people in a few target and comparison areas,
before and after. Everyone in an area at a wave shares what happened there at
that time (an incident, a news story, a season), so answers cluster by area and
wave; with one to three areas per arm a model that treats respondents as
independent understates the uncertainty. Here the areas carry the inference:

* each area's weighted share unsafe before and after, and its change ``d_a``;
* the arms' shares pooled over their areas with the survey weights, and the
  difference-in-differences of the pooled shares (percentage points, and the
  same on the log-odds scale);
* the variance of ``d_a`` estimated from how the areas' changes spread around
  their arm's change (one variance for every area: sampling, weights, the
  area-by-wave variation and repeated respondents together), and a t reference
  on ``areas - 2`` degrees of freedom.

Respondents seen in several waves need no extra term: they live in one area,
so their correlation is inside the area's change. With one target and one
comparison area the spread cannot be estimated and the interval is refused.

The proportional-odds assumption of the ordinal model is checked with a
Brant-type Wald test: the difference-in-differences of each cumulative cut
(answers ≥ 2, ≥ 3, ≥ 4) from its own weighted logistic regression, their joint
sandwich covariance summed over respondents, and a test that they are equal.
A shift common to every answer (such as an area-by-wave shock under
proportional odds) moves every cut alike and cancels from the differences, so
respondent-level variance is enough for this test.

The difference-in-differences, the ordinal model's error and the check stay in
one module (over 500 lines): each takes the areas as the unit of inference and
shares their weighted sums and spread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ..errors import EstimationError
from ..format import summary_html
from .survey import ShareChange, change_columns
from .survey_microdata import (
    DEFAULT_UNSAFE,
    MIN_CELL_N,
    UNRELIABLE_N,
    DateLike,
    assign_period,
    cell_notes,
    design_matrix,
    model_frame,
    suppress_small_cells,
)

__all__ = [
    "AreaDifferenceInDifferences",
    "ProportionalOddsCheck",
    "area_difference_in_differences",
    "area_log_odds_standard_error",
    "proportional_odds_check",
    "shares_change",
    "shares_difference_in_differences",
    "t_inference",
]

ARMS = ("target", "comparison")


def _logit(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p / (1 - p))


@dataclass(frozen=True)
class _AreaSpread:
    """The areas' changes, their arm weights and the pooled spread around the arms."""

    std_error: float  # of the arms' difference
    df: int
    arm_std_error: dict[str, float]

    @property
    def reason(self) -> str:
        """Why the spread gives no interval or p-value; empty when it gives them."""
        if self.df < 1:
            return (
                "one target and one comparison area: how much areas vary from wave to wave "
                "cannot be estimated, so there is no interval or p-value"
            )
        if not np.isfinite(self.std_error):
            return (
                "every area changed by exactly as much as its arm: how much areas vary from wave "
                "to wave cannot be estimated, so there is no interval or p-value"
            )
        return ""


def area_spread(changes: np.ndarray, weight: np.ndarray, target: np.ndarray) -> _AreaSpread:
    """Standard error of a weighted difference of arm means from the areas' spread.

    With one variance ``σ²`` for every area's change and ``π_a`` an area's share
    of its arm, the arm's change ``Σ π_a d_a`` has variance ``σ² Σ π_a²``, and
    ``E Σ_a (d_a - Σ π d)² = σ² (n - 2 + n Σ π²)`` per arm, which gives the
    unbiased pooled ``σ̂²`` on ``n_target + n_comparison - 2`` degrees of freedom.
    """
    resid2, denominator, arm_pi2 = 0.0, 0.0, {}
    for name, mask in zip(ARMS, (target, ~target), strict=True):
        d, pi = changes[mask], weight[mask] / weight[mask].sum()
        resid2 += float(((d - pi @ d) ** 2).sum())
        denominator += len(d) - 2 + len(d) * float(pi @ pi)
        arm_pi2[name] = float(pi @ pi)
    df = int(len(changes) - 2)
    # Areas whose changes do not vary (up to rounding) leave their error unmeasured, not zero.
    alike = resid2 <= (1e-9 * max(1.0, float(np.abs(changes).max()))) ** 2 * len(changes)
    if df < 1 or denominator <= 0 or alike:
        nan = float("nan")
        return _AreaSpread(nan, df, {a: nan for a in ARMS})
    sigma = np.sqrt(resid2 / denominator)
    return _AreaSpread(
        float(sigma * np.sqrt(sum(arm_pi2.values()))),
        df,
        {a: float(sigma * np.sqrt(arm_pi2[a])) for a in ARMS},
    )


def t_inference(
    estimate: float, std_error: float, df: int, level: float
) -> tuple[float, float, float]:
    """Interval and two-sided p-value of an estimate on a t reference.

    Returns
    -------
    (float, float, float)
        ``(ci_low, ci_high, p_value)``; NaN when the standard error or the
        degrees of freedom are missing.
    """
    if not np.isfinite(std_error) or df < 1 or not np.isfinite(estimate):
        nan = float("nan")
        return nan, nan, nan
    if std_error == 0:
        return estimate, estimate, 0.0 if estimate != 0 else 1.0
    q = stats.t.ppf(0.5 + level / 2, df)
    p = 2 * stats.t.sf(abs(estimate / std_error), df)
    return estimate - q * std_error, estimate + q * std_error, float(p)


def arm_texts(arms: pd.DataFrame, describe: Callable[[pd.Series], str]) -> list[str]:
    """Each arm in words, an arm with too few respondents withheld.

    Parameters
    ----------
    arms : pandas.DataFrame
        One row per arm, indexed by its name, with a boolean ``suppressed``.
    describe : callable
        The words for an arm's row that is not suppressed.

    Returns
    -------
    list of str
        ``"<arm> areas: <words>"`` per arm.
    """
    return [
        f"{name} areas: fewer than {MIN_CELL_N} respondents, withheld"
        if row["suppressed"]
        else f"{name} areas: {describe(row)}"
        for name, row in arms.iterrows()
    ]


@dataclass(frozen=True)
class AreaDifferenceInDifferences:
    """A survey difference-in-differences with the areas as the unit of inference.

    Attributes
    ----------
    question : str
    unsafe : tuple of int
        Answer codes counted as unsafe; empty when the shares were reported
        (:func:`shares_difference_in_differences`).
    arms : pandas.DataFrame
        One row per arm (``target``, ``comparison``): ``n_areas``,
        ``n_before``, ``n_after`` respondents, ``share_before``,
        ``share_after`` (weighted, pooled over the arm's areas), ``change_pp``
        with ``ci_low_pp``/``ci_high_pp`` from the areas' spread (missing when
        it cannot be estimated), ``suppressed`` and ``unreliable``.
    areas : pandas.DataFrame
        Respondents, effective n and weighted share per area and period
        (small cells suppressed).
    estimates : pandas.DataFrame
        Indexed by estimand: ``share_difference_pp`` (points) and
        ``log_odds_ratio``, each with ``estimate``, ``std_error``, ``ci_low``,
        ``ci_high``, ``p_value`` (t on ``df`` degrees of freedom).
    df : int
        Number of areas minus 2.
    level : float
    reason : str
        Why the interval and p-value are missing; empty when they are given.
    notes : tuple of str
        Caveats found in the data (small cells, ...).
    """

    question: str
    unsafe: tuple[int, ...]
    arms: pd.DataFrame
    areas: pd.DataFrame
    estimates: pd.DataFrame
    df: int
    level: float
    reason: str = ""
    notes: tuple[str, ...] = ()

    def values(self, estimand: str) -> tuple[float, float, float, float]:
        """``(estimate, ci_low, ci_high, p_value)`` of ``share_difference_pp``,
        ``log_odds_ratio`` or ``odds_ratio`` (the exponentiated log odds ratio)."""
        key = "log_odds_ratio" if estimand == "odds_ratio" else estimand
        row = self.estimates.loc[key]
        values = (row["estimate"], row["ci_low"], row["ci_high"])
        if estimand == "odds_ratio":
            values = tuple(np.exp(values))
        return (*(float(v) for v in values), float(row["p_value"]))

    def arm_texts(self) -> list[str]:
        """Each arm's share before and after and its change, in words (small arms withheld)."""

        def describe(row) -> str:
            change = 100 * (row["share_after"] - row["share_before"])
            return (
                f"{100 * row['share_before']:.1f} % unsafe before, "
                f"{100 * row['share_after']:.1f} % after ({change:+.1f} points)"
            )

        return arm_texts(self.arms, describe)

    def to_frame(self) -> pd.DataFrame:
        """The estimates as a tidy frame (a copy)."""
        return self.estimates.reset_index(names="estimand")

    def summary(self) -> str:
        """A plain-text account of the arms, the estimate and its caveats."""
        pp = self.values("share_difference_pp")
        ratio = self.values("odds_ratio")
        counted = (
            f"answering {'/'.join(map(str, self.unsafe))}" if self.unsafe else "reported unsafe"
        )
        lines = [
            f"Difference-in-differences of the weighted share {counted} to {self.question}, "
            f"areas as the unit (t on {self.df} degrees of freedom)",
            *self.arm_texts(),
        ]
        if self.reason:
            lines.append(f"{pp[0]:+.1f} points; odds ratio {ratio[0]:.2f}; {self.reason}")
        else:
            lines.append(
                f"{pp[0]:+.1f} points ({self.level:.0%} CI {pp[1]:+.1f} to {pp[2]:+.1f}), "
                f"p = {pp[3]:.3f}; odds ratio {ratio[0]:.2f} ({ratio[1]:.2f} to {ratio[2]:.2f}), "
                f"p = {ratio[3]:.3f}"
            )
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.to_frame())


@dataclass(frozen=True)
class _AreaSums:
    """Respondents and weighted sums per area (rows) and period (columns: before, after)."""

    area: np.ndarray
    target: np.ndarray
    n: np.ndarray
    sum_w: np.ndarray
    sum_w2: np.ndarray
    sum_wy: np.ndarray

    @property
    def share(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.sum_wy / self.sum_w

    def arm_weight(self) -> np.ndarray:
        """An area's share of its arm's weight, averaged over the two periods."""
        pi = np.empty_like(self.sum_w)
        for mask in (self.target, ~self.target):
            pi[mask] = self.sum_w[mask] / self.sum_w[mask].sum(axis=0)
        return pi.mean(axis=1)

    def arm(self, target: bool) -> tuple[np.ndarray, np.ndarray]:
        """The arm's respondents and pooled weighted share, before and after."""
        mask = self.target if target else ~self.target
        return self.n[mask].sum(axis=0), self.sum_wy[mask].sum(axis=0) / self.sum_w[mask].sum(
            axis=0
        )


def area_sums(frame: pd.DataFrame, group_col: str, outcome: np.ndarray) -> _AreaSums:
    codes, areas = pd.factorize(frame[group_col], sort=True)
    k = len(areas)
    cell = 2 * codes + frame["after"].to_numpy(int)
    w = frame["weight"].to_numpy(float)

    def total(values=None):
        return np.bincount(cell, weights=values, minlength=2 * k).reshape(k, 2)

    treated = np.bincount(codes, weights=frame["treated"].to_numpy(float), minlength=k) > 0
    return _AreaSums(
        np.asarray(areas), treated, total().astype(int), total(w), total(w * w), total(w * outcome)
    )


def _cell_frame(sums: _AreaSums, group_col: str, min_n: int, unreliable_n: int) -> pd.DataFrame:
    """Respondents, Kish effective n and weighted share per area and period, small cells blanked."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = sums.sum_w**2 / sums.sum_w2
    cells = pd.DataFrame(
        {
            group_col: np.repeat(sums.area, 2),
            "period": np.tile(["before", "after"], len(sums.area)),
            "n": sums.n.ravel(),
            "n_eff": n_eff.ravel(),
            "share": sums.share.ravel(),
        }
    )
    return suppress_small_cells(cells, "n", min_n, unreliable_n=unreliable_n)


def area_difference_in_differences(
    data: pd.DataFrame,
    *,
    treated: str | Iterable[str],
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "place_id",
    comparison: str | Iterable[str] | None = None,
    unsafe: Iterable[int] = DEFAULT_UNSAFE,
    level: float = 0.95,
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> AreaDifferenceInDifferences:
    """Difference-in-differences of the weighted share unsafe, areas as the unit.

    The estimate is ``(T_after - T_before) - (C_after - C_before)`` where ``T``
    and ``C`` are the weighted shares unsafe pooled over the target and the
    comparison areas (``Σ w·y / Σ w``), in percentage points, and the same
    difference of the pooled shares' log odds. Each area's own change ``d_a``
    (points or log odds) spreads around its arm's change by sampling, unequal
    weights, the area-by-wave variation and the answers of people asked twice;
    assuming one variance for all areas, the spread around the arms estimates
    it on ``areas - 2`` degrees of freedom and the difference's standard error
    is ``σ̂ √(Σ_T π_a² + Σ_C π_a²)``, with ``π_a`` an area's share of its arm's
    weight. Intervals and p-values use Student's t on those degrees of freedom,
    which is exact for normal changes of equal variance however large the
    area-by-wave variation.

    With one target and one comparison area there are no degrees of freedom:
    the estimate is given and the interval and p-value are missing, with the
    reason in ``reason``.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`~pipeline.inputs.survey.read_survey`.
    treated : str or iterable of str
        Values of `group_col` that received the measures.
    before, after : date-like or iterable of date-like
        The wave(s) pooled into each period.
    question : str, optional
        Required when the data hold more than one question.
    group_col : str, default "place_id"
        The column naming each respondent's area.
    comparison : str or iterable of str, optional
        Comparison areas; by default every area that is not treated.
    unsafe : iterable of int, default {3, 4}
        Answer codes that count as feeling unsafe.
    level : float, default 0.95
    min_n, unreliable_n : int
        Thresholds for suppressing and flagging cells in ``areas`` and ``arms``.

    Returns
    -------
    AreaDifferenceInDifferences

    Raises
    ------
    pipeline.errors.EstimationError
        When an area has no answers in a period.
    """
    frame, question, unsafe, treated_list, comparison_list = model_frame(
        data,
        question=question,
        unsafe=unsafe,
        before=before,
        after=after,
        group_col=group_col,
        treated=treated,
        comparison=comparison,
    )
    sums = area_sums(frame, group_col, frame["y"].to_numpy(float))
    return _difference_in_differences(
        sums, question, tuple(sorted(unsafe)), group_col, level, min_n, unreliable_n
    )


def _difference_in_differences(
    sums: _AreaSums,
    question: str,
    unsafe: tuple[int, ...],
    group_col: str,
    level: float,
    min_n: int,
    unreliable_n: int,
    notes: Iterable[str] = (),
) -> AreaDifferenceInDifferences:
    """The estimate and its area-level inference from the areas' sums."""
    if (sums.n == 0).any():
        area, period = np.argwhere(sums.n == 0)[0]
        raise EstimationError(
            f"{group_col} {sums.area[area]} has no answers {('before', 'after')[period]}"
        )
    share, pi = sums.share, sums.arm_weight()
    n_arm, share_arm = zip(*(sums.arm(t) for t in (True, False)), strict=True)
    arms = pd.DataFrame(
        {
            "n_areas": [int(sums.target.sum()), int((~sums.target).sum())],
            "n_before": [int(n[0]) for n in n_arm],
            "n_after": [int(n[1]) for n in n_arm],
            "share_before": [float(p[0]) for p in share_arm],
            "share_after": [float(p[1]) for p in share_arm],
        },
        index=pd.Index(list(ARMS), name="arm"),
    )
    pp_spread = area_spread(100 * (share[:, 1] - share[:, 0]), pi, sums.target)
    arm_change = 100 * (arms["share_after"] - arms["share_before"])
    pp = float(arm_change["target"] - arm_change["comparison"])
    arms["change_pp"] = arm_change
    q = stats.t.ppf(0.5 + level / 2, pp_spread.df) if pp_spread.df >= 1 else float("nan")
    arms["ci_low_pp"] = [arm_change[a] - q * pp_spread.arm_std_error[a] for a in ARMS]
    arms["ci_high_pp"] = [arm_change[a] + q * pp_spread.arm_std_error[a] for a in ARMS]

    area_logit = _logit(share)
    inside = bool(np.isfinite(area_logit).all())
    arm_logit = _logit(arms["share_after"]) - _logit(arms["share_before"])
    log_or = float(arm_logit["target"] - arm_logit["comparison"])
    if inside:
        lo_se = area_spread(area_logit[:, 1] - area_logit[:, 0], pi, sums.target).std_error
    else:
        lo_se = float("nan")

    reason, notes = pp_spread.reason, list(notes)
    if not reason and not inside:
        notes.append(
            "an area's share unsafe is 0 % or 100 % in a period: the odds ratio has no interval"
        )
    rows = {}
    for name, estimate, se in (
        ("share_difference_pp", pp, pp_spread.std_error),
        ("log_odds_ratio", log_or, lo_se),
    ):
        low, high, p = t_inference(estimate, se, pp_spread.df, level)
        rows[name] = {
            "estimate": estimate,
            "std_error": se,
            "ci_low": low,
            "ci_high": high,
            "p_value": p,
        }
    estimates = pd.DataFrame.from_dict(rows, orient="index")

    smallest = arms[["n_before", "n_after"]].min(axis=1)
    arms["suppressed"] = smallest < min_n
    arms["unreliable"] = ~arms["suppressed"] & (smallest < unreliable_n)
    blank = ["share_before", "share_after", "change_pp", "ci_low_pp", "ci_high_pp"]
    arms.loc[arms["suppressed"], blank] = np.nan
    cells = _cell_frame(sums, group_col, min_n, unreliable_n)
    notes = cell_notes(cells, group_col, min_n, unreliable_n) + notes
    return AreaDifferenceInDifferences(
        question=question,
        unsafe=unsafe,
        arms=arms,
        areas=cells,
        estimates=estimates,
        df=pp_spread.df,
        level=level,
        reason=reason,
        notes=tuple(notes),
    )


def area_log_odds_standard_error(
    data: pd.DataFrame,
    *,
    treated: str | Iterable[str],
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "place_id",
    comparison: str | Iterable[str] | None = None,
) -> tuple[float, int]:
    """Area-level standard error of a common log odds ratio over the cumulative cuts.

    Each area's change in log odds is averaged over the cuts of the answer
    scale (answers ≥ 2, ≥ 3, ≥ 4) whose shares are strictly between 0 and 1 in
    every area and period; under proportional odds each cut estimates the same
    log odds ratio. The spread of these averages around their arms gives the
    standard error as in :func:`area_difference_in_differences`. It is the
    clustering-aware error for the ordinal model's cumulative odds ratio.

    Returns
    -------
    (float, int)
        The standard error (NaN without degrees of freedom or usable cuts) and
        the degrees of freedom (areas - 2).
    """
    frame, *_ = model_frame(
        data,
        question=question,
        unsafe=DEFAULT_UNSAFE,
        before=before,
        after=after,
        group_col=group_col,
        treated=treated,
        comparison=comparison,
    )
    changes, sums = [], None
    for cut in (2, 3, 4):
        sums = area_sums(frame, group_col, (frame["answer"] >= cut).to_numpy(float))
        change = np.diff(_logit(sums.share), axis=1)[:, 0]
        if np.isfinite(change).all():
            changes.append(change)
    df = int(len(sums.area) - 2)
    if not changes:
        return float("nan"), df
    spread = area_spread(np.mean(changes, axis=0), sums.arm_weight(), sums.target)
    return spread.std_error, spread.df


# -------------------------------------------------------------------------- reported shares


def _shares_frame(
    shares: pd.DataFrame, question: str | None, before, after
) -> tuple[pd.DataFrame, str, list[str]]:
    """One question's reported shares in the before and after waves, as weighted sums.

    An area-wave cell of ``n`` respondents with weighted share ``p``, weighted
    base ``W`` and design effect ``deff`` has the sums of its microdata:
    ``Σw = W``, ``Σw·y = p W`` and ``Σw² = deff W² / n`` (Kish's effective n is
    ``n / deff``). Without a weighted base the cells are pooled by respondents,
    and without a design effect it is taken as 1.
    """
    questions = sorted(shares["question"].unique())
    if question is None:
        if len(questions) != 1:
            raise ValueError(f"the shares hold questions {questions}; choose one with question=")
        question = questions[0]
    frame = shares[shares["question"] == question]
    if frame.empty:
        raise EstimationError(f"no reported shares for question {question!r}")
    try:
        frame, _, _ = assign_period(frame, before, after)
    except ValueError as exc:
        raise EstimationError(str(exc)) from None
    notes = []
    n = frame["respondents"].to_numpy(float)
    if frame["weighted_base"].notna().all():
        base = frame["weighted_base"].to_numpy(float)
    else:
        base = n
        if frame["weighted_base"].notna().any():
            notes.append(
                "the weighted base is not given for every area and wave, so areas and waves "
                "are pooled by their respondents"
            )
    deff = frame["design_effect"].fillna(1.0).to_numpy(float)
    if frame["design_effect"].isna().any():
        notes.append(
            "the design effect is not given for every area and wave: where it is missing the "
            "weights are taken as equal (design effect 1), which understates the sampling "
            "error if they vary"
        )
    frame = frame.assign(
        n=n, sum_w=base, sum_w2=deff * base**2 / n, sum_wy=frame["share_unsafe"] * base
    )
    return frame, question, notes


def shares_difference_in_differences(
    shares: pd.DataFrame,
    *,
    treated: str | Iterable[str],
    comparison: str | Iterable[str],
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "place_id",
    level: float = 0.95,
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> AreaDifferenceInDifferences:
    """:func:`area_difference_in_differences` from shares a survey report gives.

    The area-level difference-in-differences needs only each area's weighted
    sums per period, which a report's share, respondents, weighted base and
    design effect give exactly (see :func:`_shares_frame`); from shares
    computed from microdata the estimate, interval and p-value are those of the
    microdata. Its inference, the areas' spread on ``areas - 2`` degrees of
    freedom, does not use the design effect at all.

    Parameters
    ----------
    shares : pandas.DataFrame
        As returned by :func:`~pipeline.inputs.survey_shares.read_survey_shares`.
    treated, comparison : str or iterable of str
        The target and comparison areas (values of `group_col`).
    before, after : date-like or iterable of date-like
    question : str, optional
        Required when the shares hold more than one question.
    group_col : str, default "place_id"
    level : float, default 0.95
    min_n, unreliable_n : int

    Returns
    -------
    AreaDifferenceInDifferences
        With an empty ``unsafe``: what counts as unsafe is the report's.

    Raises
    ------
    pipeline.errors.EstimationError
        When an area has no share in a period, or a wave is absent.
    """
    treated = [treated] if isinstance(treated, str) else list(treated)
    comparison = [comparison] if isinstance(comparison, str) else list(comparison)
    if not treated or not comparison:
        raise EstimationError("a difference-in-differences needs target and comparison areas")
    if both := set(treated) & set(comparison):
        raise ValueError(f"areas both treated and comparison: {sorted(both)}")
    frame, question, notes = _shares_frame(shares, question, before, after)
    frame = frame[frame[group_col].isin(treated + comparison)]
    areas = sorted(treated + comparison)
    index = pd.MultiIndex.from_product([areas, [0, 1]])
    cells = frame.groupby([group_col, "after"])[["n", "sum_w", "sum_w2", "sum_wy"]].sum()
    cells = cells.reindex(index, fill_value=0)
    as_matrix = lambda column: cells[column].to_numpy(float).reshape(len(areas), 2)  # noqa: E731
    sums = _AreaSums(
        np.asarray(areas),
        np.isin(areas, treated),
        as_matrix("n").astype(int),
        as_matrix("sum_w"),
        as_matrix("sum_w2"),
        as_matrix("sum_wy"),
    )
    return _difference_in_differences(
        sums, question, (), group_col, level, min_n, unreliable_n, notes
    )


def shares_change(
    shares: pd.DataFrame,
    *,
    areas: str | Iterable[str],
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "place_id",
    level: float = 0.95,
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> tuple[ShareChange, tuple[str, ...]]:
    """:func:`~pipeline.methods.survey.share_change` of the given areas together, from shares.

    The areas' shares are pooled by their weighted sums and the change has
    Newcombe's interval on Kish's effective n, which needs the design effect:
    where the report does not give it the weights are taken as equal, and the
    notes say so.

    Returns
    -------
    (ShareChange, tuple of str)
        The change, with one row (``area`` = ``"target"``), and the notes.
    """
    areas = [areas] if isinstance(areas, str) else list(areas)
    frame, question, notes = _shares_frame(shares, question, before, after)
    frame = frame[frame[group_col].isin(areas)]
    if frame.empty:
        raise EstimationError(f"no reported shares for the areas {areas}")
    sums = frame.groupby("after")[["n", "sum_w", "sum_w2", "sum_wy"]].sum()
    sums = sums.reindex([0, 1], fill_value=0)
    row = {"area": "target"}
    for flag, suffix in ((0, "before"), (1, "after")):
        n, w, w2, wy = sums.loc[flag]
        row[f"n_{suffix}"] = int(n)
        row[f"n_eff_{suffix}"] = w**2 / w2 if w2 > 0 else np.nan
        row[f"share_{suffix}"] = wy / w if w > 0 else np.nan
    wide = change_columns(pd.DataFrame([row]), level, min_n, unreliable_n)
    waves = lambda column: tuple(  # noqa: E731
        sorted(pd.Timestamp(w) for w in frame.loc[frame["after"] == column, "wave"].unique())
    )
    change = ShareChange(wide, question, (), ("area",), waves(0), waves(1), level)
    return change, tuple(notes)


@dataclass(frozen=True)
class ProportionalOddsCheck:
    """A Brant-type check of the proportional-odds assumption.

    Attributes
    ----------
    cuts : pandas.DataFrame
        One row per cut (``answer ≥ 2`` ...): ``cut``, ``log_odds_ratio``,
        ``std_error``, ``odds_ratio`` of the key term from a weighted logistic
        regression of that cut.
    statistic : float
        Wald χ² that the cut-specific log odds ratios are equal.
    df : int
        Number of usable cuts minus 1.
    p_value : float
    term : str
        ``"treated:after"`` or ``"after"``.
    """

    cuts: pd.DataFrame
    statistic: float
    df: int
    p_value: float
    term: str

    @property
    def holds(self) -> bool:
        """Whether the test does not reject proportional odds at the 5 % level."""
        return not self.p_value < 0.05

    def note(self) -> str:
        """One sentence for an estimate's notes."""
        ratios = ", ".join(
            f"answer ≥ {row.cut}: {row.odds_ratio:.2f}" for row in self.cuts.itertuples(index=False)
        )
        test = f"Brant-type Wald χ² = {self.statistic:.2f} on {self.df} df, p = {self.p_value:.3f}"
        if self.holds:
            return f"proportional odds not rejected ({test}; odds ratios per cut {ratios})"
        return (
            f"proportional odds rejected ({test}): the odds ratios differ by cut ({ratios}), "
            "so the single cumulative odds ratio summarises unequal changes"
        )

    def summary(self) -> str:
        """A plain-text account of the check."""
        return self.note()

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.cuts)


def proportional_odds_check(
    data: pd.DataFrame,
    *,
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "place_id",
    treated: str | Iterable[str] | None = None,
    comparison: str | Iterable[str] | None = None,
    respondent_col: str = "respondent_id",
) -> ProportionalOddsCheck:
    """Test that the key term's log odds ratio is the same at every cut of the scale.

    For each cut ``answer ≥ j`` (j = 2, 3, 4) a weighted logistic regression
    with the terms of :func:`~pipeline.methods.survey_ordinal.ordinal_model` (area
    intercepts, ``after`` and, with `treated`, ``treated:after``) gives the key
    term's coefficient. Their joint covariance is the sandwich of the stacked
    estimating equations with scores summed per respondent (a respondent asked
    in several waves is one cluster), as in Brant (1990). The Wald statistic
    of the differences from the first cut is χ² on (cuts - 1) degrees of
    freedom. Cuts where an area and period has no one (or everyone) above the
    cut are left out.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`~pipeline.inputs.survey.read_survey`.
    before, after : date-like or iterable of date-like
    question : str, optional
    group_col : str, default "place_id"
    treated, comparison : str or iterable of str, optional
        As in :func:`~pipeline.methods.survey_ordinal.ordinal_model`.
    respondent_col : str, default "respondent_id"
        The column identifying a respondent across waves; rows are their own
        cluster when it is absent.

    Returns
    -------
    ProportionalOddsCheck

    Raises
    ------
    pipeline.errors.EstimationError
        When fewer than two cuts can be estimated.
    """
    frame, *_, treated_list, comparison_list = model_frame(
        data,
        question=question,
        unsafe=DEFAULT_UNSAFE,
        before=before,
        after=after,
        group_col=group_col,
        treated=treated,
        comparison=comparison,
    )
    groups = comparison_list + treated_list
    exog = design_matrix(frame, group_col, groups, treated=bool(treated_list), intercept=True)
    x = exog.to_numpy(float)
    term = "treated:after" if treated_list else "after"
    k = list(exog.columns).index(term)
    w = frame["weight"].to_numpy(float)
    w = w / w.mean()
    cell = frame[group_col].astype(str) + "|" + frame["after"].astype(str)
    if respondent_col in frame.columns:
        cluster = pd.factorize(frame[respondent_col].astype(str))[0]
    else:
        cluster = np.arange(len(frame))
    rows, influence = [], []
    for cut in (2, 3, 4):
        y = (frame["answer"] >= cut).to_numpy(float)
        per_cell = pd.Series(y).groupby(cell.to_numpy()).agg(["min", "max"])
        if (per_cell["min"] == per_cell["max"]).any():
            continue
        fit = sm.GLM(y, x, family=sm.families.Binomial(), var_weights=w).fit()
        mu = fit.fittedvalues
        bread = np.linalg.inv((x * (w * mu * (1 - mu))[:, None]).T @ x)
        scores = x * (w * (y - mu))[:, None]
        by_cluster = np.zeros((cluster.max() + 1, x.shape[1]))
        np.add.at(by_cluster, cluster, scores)
        influence.append(by_cluster @ bread[:, k])  # each cluster's influence on the key term
        rows.append({"cut": cut, "log_odds_ratio": float(fit.params[k])})
    if len(rows) < 2:
        raise EstimationError(
            "fewer than two cuts of the answer scale vary in every area and period: "
            "proportional odds cannot be checked"
        )
    infl = np.column_stack(influence)
    cov = infl.T @ infl
    beta = np.array([r["log_odds_ratio"] for r in rows])
    contrast = np.eye(len(beta))[1:] - np.eye(len(beta))[0]
    diff = contrast @ beta
    statistic = float(diff @ np.linalg.solve(contrast @ cov @ contrast.T, diff))
    cuts = pd.DataFrame(rows)
    cuts["std_error"] = np.sqrt(np.diag(cov))
    cuts["odds_ratio"] = np.exp(cuts["log_odds_ratio"])
    df = len(rows) - 1
    return ProportionalOddsCheck(cuts, statistic, df, float(stats.chi2.sf(statistic, df)), term)
