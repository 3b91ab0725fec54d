"""The local problems index: each respondent's mean answer and its area-level difference-in-differences.

An index of several questions on one scale (1 no problem ... 4 a big problem)
is each respondent's mean answer. Its difference-in-differences takes the
areas as the unit of inference, as the survey's share unsafe does
(:mod:`pipeline.methods.survey_areas`): each area's weighted mean before and
after, the arms' means pooled with the survey weights, and a t reference on
``areas - 2`` degrees of freedom from how the areas' changes spread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..format import summary_html
from .survey_areas import ARMS, area_spread, area_sums, arm_texts, t_inference
from .survey_microdata import MIN_CELL_N, DateLike, assign_period

__all__ = ["AreaMeanDifference", "area_mean_difference_in_differences", "respondent_index"]


def respondent_index(
    data: pd.DataFrame, questions: Iterable[str], *, min_answered: int
) -> pd.DataFrame:
    """Each respondent's index: the mean of their answers (1-4) to the given questions.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`~pipeline.inputs.survey.read_survey`;
        code 5 (don't know) is missing.
    questions : iterable of str
        The questions averaged, all on the same 1-4 scale.
    min_answered : int
        A respondent with fewer answered questions in a wave has no index.

    Returns
    -------
    pandas.DataFrame
        One row per respondent and wave with an index: ``respondent_id``,
        ``municipality``, ``place_id``, ``wave``, ``weight``, ``answered`` and
        ``index``.
    """
    questions = list(questions)
    rows = data[data["question"].isin(questions) & data["answer"].notna()]
    keys = ["respondent_id", "municipality", "place_id", "wave"]
    grouped = rows.groupby(keys, sort=True, dropna=False)
    out = grouped.agg(
        weight=("weight", "first"),
        answered=("answer", "size"),
        index=("answer", lambda a: float(np.mean(a.astype(float)))),
    ).reset_index()
    return out[out["answered"] >= min_answered].reset_index(drop=True)


@dataclass(frozen=True)
class AreaMeanDifference:
    """A difference-in-differences of a weighted mean (an index), areas as the unit of inference.

    Attributes
    ----------
    arms : pandas.DataFrame
        One row per arm (``target``, ``comparison``): ``n_areas``, ``n_before``,
        ``n_after`` respondents, ``mean_before``, ``mean_after`` (weighted,
        pooled over the arm's areas), ``change``, ``suppressed``.
    estimate, std_error, ci_low, ci_high, p_value : float
        The difference of the arms' changes, in points of the index, with t
        inference on ``df`` degrees of freedom (missing without any).
    df : int
        Number of areas minus 2.
    level : float
    reason : str
        Why the interval and p-value are missing; empty when they are given.
    notes : tuple of str
    """

    arms: pd.DataFrame
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    df: int
    level: float
    reason: str = ""
    notes: tuple[str, ...] = ()

    def values(self) -> tuple[float, float, float, float]:
        """``(estimate, ci_low, ci_high, p_value)``."""
        return self.estimate, self.ci_low, self.ci_high, self.p_value

    def arm_texts(self) -> list[str]:
        """Each arm's mean before and after and its change, in words (small arms withheld)."""
        return arm_texts(
            self.arms,
            lambda row: (
                f"index {row['mean_before']:.2f} before, {row['mean_after']:.2f} "
                f"after ({row['change']:+.2f} points)"
            ),
        )

    def summary(self) -> str:
        """A plain-text account of the arms, the estimate and its caveats."""
        lines = [
            f"Difference-in-differences of the weighted mean index, areas as the unit "
            f"(t on {self.df} degrees of freedom)",
            *self.arm_texts(),
        ]
        if self.reason:
            lines.append(f"{self.estimate:+.2f} points; {self.reason}")
        else:
            lines.append(
                f"{self.estimate:+.2f} points ({self.level:.0%} CI {self.ci_low:+.2f} to "
                f"{self.ci_high:+.2f}), p = {self.p_value:.3f}"
            )
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.arms.reset_index())


def area_mean_difference_in_differences(
    data: pd.DataFrame,
    *,
    treated: str | Iterable[str],
    comparison: str | Iterable[str],
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    value_col: str = "index",
    group_col: str = "place_id",
    level: float = 0.95,
    min_n: int = MIN_CELL_N,
) -> AreaMeanDifference:
    """Difference-in-differences of a weighted mean per respondent, areas as the unit.

    As :func:`area_difference_in_differences` with each respondent's value
    (an index of several questions, :func:`respondent_index`) in place of
    "unsafe or not": the arms' weighted means pooled over their areas, the
    difference of their changes in points, and its standard error from how the
    areas' own changes spread around their arm's, on ``areas - 2`` degrees of
    freedom (Student's t). The area-by-wave variation and people asked in
    several waves are inside each area's change, so they need no term of their
    own; with one target and one comparison area there is no interval.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent and wave with ``wave``, ``weight``, `group_col`
        and `value_col`.
    treated, comparison : str or iterable of str
        The target and comparison areas.
    before, after : date-like or iterable of date-like
    value_col : str, default "index"
    group_col : str, default "place_id"
    level : float, default 0.95
    min_n : int
        Arms with fewer respondents in a period have their means withheld.

    Returns
    -------
    AreaMeanDifference

    Raises
    ------
    pipeline.errors.EstimationError
        When an area has no respondent with a value in a period.
    """
    treated = [treated] if isinstance(treated, str) else sorted(treated)
    comparison = [comparison] if isinstance(comparison, str) else sorted(comparison)
    if not treated or not comparison:
        raise EstimationError("a difference-in-differences needs target and comparison areas")
    try:
        frame, _, _ = assign_period(data, before, after)
    except ValueError as exc:
        raise EstimationError(str(exc)) from None
    frame = frame[frame[group_col].isin(treated + comparison)]
    frame = frame.assign(treated=frame[group_col].isin(treated).astype(int))
    sums = area_sums(frame, group_col, frame[value_col].to_numpy(float))
    missing = sorted(set(treated + comparison) - set(sums.area))
    if missing:
        raise EstimationError(f"{group_col} {missing[0]} has no respondents with an index")
    if (sums.n == 0).any():
        area, period = np.argwhere(sums.n == 0)[0]
        raise EstimationError(
            f"{group_col} {sums.area[area]} has no respondents with an index "
            f"{('before', 'after')[period]}"
        )
    spread = area_spread(sums.share[:, 1] - sums.share[:, 0], sums.arm_weight(), sums.target)
    rows = {}
    for name, is_target in zip(ARMS, (True, False), strict=True):
        n, mean = sums.arm(is_target)
        rows[name] = {
            "n_areas": int((sums.target == is_target).sum()),
            "n_before": int(n[0]),
            "n_after": int(n[1]),
            "mean_before": float(mean[0]),
            "mean_after": float(mean[1]),
            "change": float(mean[1] - mean[0]),
        }
    arms = pd.DataFrame.from_dict(rows, orient="index").rename_axis("arm")
    estimate = float(arms.loc["target", "change"] - arms.loc["comparison", "change"])
    low, high, p = t_inference(estimate, spread.std_error, spread.df, level)
    arms["suppressed"] = arms[["n_before", "n_after"]].min(axis=1) < min_n
    arms.loc[arms["suppressed"], ["mean_before", "mean_after", "change"]] = np.nan
    return AreaMeanDifference(
        arms, estimate, spread.std_error, low, high, p, spread.df, level, spread.reason
    )
