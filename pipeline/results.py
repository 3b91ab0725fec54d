"""Immutable result objects shared by every design.

An :class:`Effect` is one estimate for one target, indicator and design, with
its uncertainty and what the design can and cannot show. ``EFFECT_COLUMNS`` is
the column order of ``effects.csv``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from .format import p_text

#: What was estimated, by which design, and the estimate with its inference: the columns
#: ``effects.csv`` and ``pooled_effects.csv`` share, in the same order.
ESTIMATE_COLUMNS = [
    "indicator",
    "design",
    "estimand",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
]

#: The column order of ``effects.csv`` (one row per target, indicator and design).
EFFECT_COLUMNS = [
    "municipality",
    "place_id",
    *ESTIMATE_COLUMNS,
    "n_pre",
    "n_post",
    "sms_level",
    "mde_decrease_pct",
    "p_adjusted",
    "family",
    "placebo_p_value",
    "placebo_p_min",
    "primary",
    "primary_rule",
    "method",
    "notes",
]

#: The column order of ``pooled_effects.csv`` (one row per pool; see ``evaluation/study.py``).
POOLED_COLUMNS = [
    "municipality",
    *ESTIMATE_COLUMNS,
    "p_adjusted",
    "family",
    "k",
    "tau2",
    "i2_percent",
    "pi_low",
    "pi_high",
    "method",
    "notes",
]


@dataclass(frozen=True)
class Effect:
    """One before/after estimate.

    Attributes
    ----------
    estimand
        What ``estimate`` measures. For count indicators ``rate_ratio``: the
        target's rate after the start divided by the rate the design expects
        without the measures (< 1 means fewer events). The ITS gets that
        expectation from the target's own trend and season, the controlled
        comparison from the comparison areas (a ratio of rate ratios).
    estimate, ci_low, ci_high
        Point estimate and confidence interval on the ratio scale.
    level
        Confidence level of the interval.
    p_value
        Two-sided p-value for no effect (ratio 1).
    n_pre, n_post
        Number of periods before and after the intervention start used.
    sms_level
        Maryland Scientific Methods Scale level the design reaches (1-5).
    method
        The model and inference, in one line.
    notes
        Caveats specific to this estimate (truncation at a co-intervention ...).
    mde_decrease_pct
        The smallest decrease (in %) the target's counts could have detected
        with 80 % power at the 5 % level; NaN where not computed.
    p_adjusted
        The p-value adjusted within its family (Holm, gatekeeping or
        Benjamini-Hochberg), filled in by the study-level step; NaN for
        descriptive rows and before that step.
    family
        The family of hypotheses the p-value belongs to (``confirmatory``,
        ``gatekept``, ``secondary`` or ``descriptive``), assigned from
        ``study.yml``'s declared hypotheses; empty until assigned.
    placebo_p_value
        Rank of the estimate among placebo estimates (in space: the donors at
        the same date; in time: fake starts in the pre-period), where the
        design computes one; NaN otherwise.
    placebo_p_min
        The smallest value ``placebo_p_value`` could take, ``1 / (placebos +
        1)``. Where it is not below the test level the placebo p-value is no
        test at that level (the notes say so).
    fitted
        Per-period observed, fitted and counterfactual values for plots
        (columns ``period``, ``observed``, ``fitted``, ``counterfactual``), or None.
    """

    municipality: str
    place_id: str
    indicator: str
    design: str
    estimand: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n_pre: int
    n_post: int
    sms_level: int
    method: str
    level: float = 0.95
    primary: bool = False
    primary_rule: str = ""
    mde_decrease_pct: float = float("nan")
    p_adjusted: float = float("nan")
    family: str = ""
    placebo_p_value: float = float("nan")
    placebo_p_min: float = float("nan")
    notes: tuple[str, ...] = ()
    fitted: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def percent_change(self) -> float:
        """The estimate as a percentage change (ratio 0.8 -> -20 %)."""
        return 100 * (self.estimate - 1)

    @property
    def significant(self) -> bool:
        return bool(self.p_value < 1 - self.level)

    def to_frame(self) -> pd.DataFrame:
        """One tidy row with the columns of ``effects.csv``."""
        row = {name: getattr(self, name) for name in EFFECT_COLUMNS if name != "notes"}
        row["notes"] = " | ".join(self.notes)
        return pd.DataFrame([row], columns=EFFECT_COLUMNS)

    def summary(self) -> str:
        """A short plain-text account of the estimate."""
        pct = int(round(100 * self.level))
        text = (
            f"{self.design} ({self.estimand}) for {self.place_id} / {self.indicator}: "
            f"{self.estimate:.3f} ({pct} % CI {self.ci_low:.3f}-{self.ci_high:.3f}), "
            f"{p_text(self.p_value, 'en')}; {self.n_pre} periods before, {self.n_post} after; "
            f"SMS level {self.sms_level}. Method: {self.method}."
        )
        if self.notes:
            text += " Notes: " + "; ".join(self.notes) + "."
        return text

    def _repr_html_(self) -> str:
        frame = self.to_frame().drop(columns=["method", "notes", "primary_rule"])
        return frame.to_html(index=False, float_format=lambda v: f"{v:.3f}") + (
            f"<p><small>{html.escape(self.method)}</small></p>"
        )


def effects_frame(effects: list[Effect]) -> pd.DataFrame:
    """Stack effects into the tidy ``effects.csv`` layout."""
    if not effects:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    return pd.concat([e.to_frame() for e in effects], ignore_index=True)
