"""Perceived safety from survey microdata: the weighted share unsafe and its change.

The indicator is the share of respondents who feel unsafe (for example outdoors
late in the evening in their area), estimated from weighted survey microdata
(:func:`pipeline.inputs.survey.read_survey`) per group and wave, and its change
from the before to the after waves. The microdata's preparation and the
small-cell rules live in :mod:`.survey_microdata`; the model of the full answer
scale in :mod:`.survey_ordinal`; the difference-in-differences with the areas as
the unit of inference in :mod:`.survey_areas`.

Survey microdata is personal data. Every estimate here returns aggregates only
(never respondent-level rows), and estimates on fewer than ``MIN_CELL_N``
respondents are blanked by :func:`~.survey_microdata.suppress_small_cells`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..format import summary_html
from .proportions import _z, logit_interval, wilson_interval
from .survey_microdata import (
    DEFAULT_UNSAFE,
    MIN_CELL_N,
    UNRELIABLE_N,
    DateLike,
    assign_period,
    group_keys,
    select_question,
    suppress_small_cells,
    weighted_cells,
)

__all__ = [
    "ShareChange",
    "SurveyShares",
    "change_columns",
    "share_change",
    "share_unsafe",
]


# --------------------------------------------------------------------------
# (a) weighted share unsafe per group and wave
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyShares:
    """Weighted share unsafe per group and wave.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group and wave: ``n`` respondents with an answer,
        ``n_missing`` (code 5), ``sum_weight``, ``n_eff`` (Kish), ``deff``,
        ``share``, ``ci_low``, ``ci_high``, ``suppressed``, ``unreliable``.
    question : str
    unsafe : tuple of int
        The answer codes counted as unsafe.
    by : tuple of str
        The grouping columns.
    level : float
    method : str
        ``"wilson"`` or ``"logit"``.
    """

    table: pd.DataFrame
    question: str
    unsafe: tuple[int, ...]
    by: tuple[str, ...]
    level: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """The estimates as a tidy frame (a copy)."""
        return self.table.copy()

    def summary(self) -> str:
        """A plain-text table of the estimates."""
        lines = [
            f"Share answering {'/'.join(map(str, self.unsafe))} to {self.question} "
            f"(weighted; {self.level:.0%} {self.method} interval on Kish's effective n)"
        ]
        for row in self.table.itertuples(index=False):
            label = " / ".join(str(getattr(row, k)) for k in self.by) or "all"
            wave = pd.Timestamp(row.wave).date()
            if row.suppressed:
                est = "suppressed (fewer than 5 respondents)"
            else:
                est = f"{row.share:6.1%} ({row.ci_low:.1%} to {row.ci_high:.1%})"
                if row.unreliable:
                    est += "  unreliable: n < 30"
            lines.append(f"  {label:<24} {wave}  n={row.n:<5d} {est}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.table)


def share_unsafe(
    data: pd.DataFrame,
    *,
    question: str | None = None,
    by: str | Sequence[str] | None = "municipality",
    unsafe: Iterable[int] = DEFAULT_UNSAFE,
    level: float = 0.95,
    method: str = "wilson",
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> SurveyShares:
    """Weighted share of respondents who feel unsafe, per group and wave.

    The share is the ratio estimator ``Σ w·y / Σ w`` over respondents with an
    answer (code 5 is missing and leaves the denominator). Its interval is
    a Wilson score interval computed with Kish's effective sample size
    ``n_eff = (Σw)² / Σw²`` in place of ``n``.

    Why this interval: unequal weights inflate the variance of a proportion by
    Kish's design effect ``deff = n / n_eff`` (``1 + CV²`` of the weights), so
    the binomial variance on ``n_eff`` respondents approximates the weighted
    estimator's variance. Wilson rather than Wald because shares of "very
    unsafe" in small places are near 0 or 1 and cells are small: Wilson stays in
    [0, 1], keeps near-nominal coverage at small n and does not collapse to zero
    width at 0 % or 100 %. Using it with an effective n is the approach that
    performed well in comparisons of intervals for survey proportions (Korn &
    Graubard 1998; Dean & Pagano 2015). ``method="logit"`` gives the logit
    interval on the same effective n (undefined at 0 % and 100 %).

    Kish's deff covers unequal weighting only; it does not capture clustering
    or stratification, and it assumes the weights are unrelated to the answer.
    For a cluster sample use a design-based variance instead.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`read_survey` (needs
        ``question``, ``answer``, ``weight``, ``wave`` and the `by` columns).
    question : str, optional
        The question; required when the data hold more than one.
    by : str or sequence of str or None, default "municipality"
        Grouping columns (e.g. ``"place_id"``); None for all respondents.
    unsafe : iterable of int, default {3, 4}
        Answer codes that count as feeling unsafe.
    level : float, default 0.95
        Confidence level.
    method : {"wilson", "logit"}
        The interval.
    min_n, unreliable_n : int
        Passed to :func:`suppress_small_cells`.

    Returns
    -------
    SurveyShares
    """
    if method not in ("wilson", "logit"):
        raise ValueError(f"method must be 'wilson' or 'logit', got {method!r}")
    frame, question, unsafe = select_question(data, question, unsafe)
    keys = group_keys(by)
    cells = weighted_cells(frame.assign(wave=pd.to_datetime(frame["wave"])), [*keys, "wave"])
    interval = wilson_interval if method == "wilson" else logit_interval
    cells["ci_low"], cells["ci_high"] = interval(cells["share"], cells["n_eff"], level=level)
    table = cells[
        [
            *keys,
            "wave",
            "n",
            "n_missing",
            "sum_weight",
            "n_eff",
            "deff",
            "share",
            "ci_low",
            "ci_high",
        ]
    ]
    table = suppress_small_cells(table, "n", min_n, unreliable_n=unreliable_n)
    return SurveyShares(
        table.reset_index(drop=True), question, tuple(sorted(unsafe)), tuple(keys), level, method
    )


# --------------------------------------------------------------------------
# (b) before/after change in the share
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareChange:
    """Before/after change in the weighted share unsafe, per group.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group: ``n_before``, ``n_after``, ``n_eff_before``,
        ``n_eff_after``, ``share_before``, ``share_after``, ``diff_pp`` with
        ``diff_low_pp``/``diff_high_pp`` (Newcombe hybrid score interval,
        percentage points), ``odds_ratio`` with ``or_low``/``or_high``
        (Woolf, effective n), ``p_value`` (Wald test of the log odds ratio),
        ``suppressed``, ``unreliable``.
    question : str
    unsafe : tuple of int
    by : tuple of str
    before, after : tuple of pandas.Timestamp
        The waves pooled into each period.
    level : float
    """

    table: pd.DataFrame
    question: str
    unsafe: tuple[int, ...]
    by: tuple[str, ...]
    before: tuple[pd.Timestamp, ...]
    after: tuple[pd.Timestamp, ...]
    level: float

    def to_frame(self) -> pd.DataFrame:
        """The estimates as a tidy frame (a copy)."""
        return self.table.copy()

    def summary(self) -> str:
        """A plain-text account of the change per group."""
        waves = lambda ws: ", ".join(str(w.date()) for w in ws)  # noqa: E731
        lines = [
            f"Change in share answering {'/'.join(map(str, self.unsafe))} to {self.question}, "
            f"before ({waves(self.before)}) vs after ({waves(self.after)}); {self.level:.0%} intervals",
            "Before/after without a comparison group (Maryland SMS level 2): "
            "changes everywhere (e.g. the pandemic) are included.",
        ]
        for row in self.table.itertuples(index=False):
            label = " / ".join(str(getattr(row, k)) for k in self.by) or "all"
            if row.suppressed:
                lines.append(f"  {label:<24} suppressed (fewer than 5 respondents in a period)")
                continue
            text = (
                f"  {label:<24} {row.share_before:.1%} -> {row.share_after:.1%}: "
                f"{row.diff_pp:+.1f} pp ({row.diff_low_pp:+.1f} to {row.diff_high_pp:+.1f}); "
                f"OR {row.odds_ratio:.2f} ({row.or_low:.2f} to {row.or_high:.2f}), p = {row.p_value:.3f}"
            )
            if row.unreliable:
                text += "  unreliable: n < 30"
            lines.append(text)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.table)


def share_change(
    data: pd.DataFrame,
    *,
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    by: str | Sequence[str] | None = "municipality",
    unsafe: Iterable[int] = DEFAULT_UNSAFE,
    level: float = 0.95,
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> ShareChange:
    """Change in the weighted share unsafe from the before to the after waves.

    The difference is in percentage points with Newcombe's hybrid score
    interval (his method 10), built from the two Wilson intervals on Kish's
    effective n, so it inherits their behaviour near 0 and 1. The odds ratio
    (after vs before) has Woolf's log interval with effective n in place of
    counts, ``SE² = 1/(n_eff,a p_a(1-p_a)) + 1/(n_eff,b p_b(1-p_b))``; it is
    missing when a share is 0 or 1.

    Both assume the two periods are independent samples (repeated cross
    sections). For a panel, where the same people answer twice, the intervals
    are conservative when answers correlate positively.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`read_survey`.
    before, after : date-like or iterable of date-like
        The wave(s) pooled into each period; other waves are ignored.
    question : str, optional
        Required when the data hold more than one question.
    by : str or sequence of str or None, default "municipality"
        Grouping columns; None for all respondents together.
    unsafe : iterable of int, default {3, 4}
        Answer codes that count as feeling unsafe.
    level : float, default 0.95
    min_n, unreliable_n : int
        Passed to :func:`suppress_small_cells` (the smaller period counts).

    Returns
    -------
    ShareChange
    """
    frame, question, unsafe = select_question(data, question, unsafe)
    frame, before_w, after_w = assign_period(frame, before, after)
    keys = group_keys(by)
    cells = weighted_cells(frame, [*keys, "after"])
    wide_parts = []
    for flag, suffix in ((0, "before"), (1, "after")):
        part = cells.loc[cells["after"] == flag, [*keys, "n", "n_eff", "share"]]
        wide_parts.append(
            part.rename(columns={c: f"{c}_{suffix}" for c in ("n", "n_eff", "share")})
        )
    if keys:
        wide = wide_parts[0].merge(wide_parts[1], on=keys, how="outer").sort_values(keys)
    else:
        wide = pd.concat([p.reset_index(drop=True) for p in wide_parts], axis=1)
    for c in ("n_before", "n_after"):
        wide[c] = wide[c].fillna(0).astype(int)

    wide = change_columns(wide, level, min_n, unreliable_n)
    return ShareChange(
        wide.reset_index(drop=True),
        question,
        tuple(sorted(unsafe)),
        tuple(keys),
        before_w,
        after_w,
        level,
    )


def change_columns(wide: pd.DataFrame, level: float, min_n: int, unreliable_n: int) -> pd.DataFrame:
    """Add the before/after change of :class:`ShareChange` to one row per group.

    `wide` holds ``n_before``, ``n_after``, ``n_eff_before``, ``n_eff_after``,
    ``share_before`` and ``share_after``; microdata and reported shares both
    reach the change through it.
    """
    p0, p1 = wide["share_before"].to_numpy(float), wide["share_after"].to_numpy(float)
    m0, m1 = wide["n_eff_before"].to_numpy(float), wide["n_eff_after"].to_numpy(float)
    l0, u0 = wilson_interval(p0, m0, level=level)
    l1, u1 = wilson_interval(p1, m1, level=level)
    diff = p1 - p0
    wide["diff_pp"] = 100 * diff
    wide["diff_low_pp"] = 100 * (diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2))
    wide["diff_high_pp"] = 100 * (diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))
    z = _z(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (p0 > 0) & (p0 < 1) & (p1 > 0) & (p1 < 1)
        log_or = np.where(inside, np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0)), np.nan)
        se = np.sqrt(1 / (m1 * p1 * (1 - p1)) + 1 / (m0 * p0 * (1 - p0)))
    wide["odds_ratio"] = np.exp(log_or)
    wide["or_low"] = np.exp(log_or - z * se)
    wide["or_high"] = np.exp(log_or + z * se)
    wide["p_value"] = 2 * stats.norm.sf(np.abs(log_or / se))
    return suppress_small_cells(wide, ["n_before", "n_after"], min_n, unreliable_n=unreliable_n)
