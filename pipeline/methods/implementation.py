"""Implementation of the action plans (åtgärdsplaner).

How much of a municipality's action plan was carried out is both a result in
itself (the funder asks for it) and context for any effect: a plan that was
not implemented cannot have worked.

Measures and their follow-ups come from :func:`pipeline.inputs.actions.read_actions`.

The implementation share is the share of measures done or started, with a
Wilson and an exact Clopper-Pearson interval, at fixed horizons (12 and 24
months) after the project start, using each measure's status at its latest
follow-up on or before the horizon.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from ..format import summary_html
from ..inputs.actions import STATUSES
from .proportions import clopper_pearson_interval, wilson_interval

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

__all__ = [
    "HORIZONS_MONTHS",
    "IMPLEMENTED",
    "ImplementationShares",
    "ImplementationVsEffect",
    "implementation_shares",
    "implementation_vs_effect",
    "status_at",
]

IMPLEMENTED = frozenset({"done", "started"})
HORIZONS_MONTHS = (12, 24)
TOTAL = "All"


# --------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Implementation share
# --------------------------------------------------------------------------


def status_at(actions: pd.DataFrame, when: str | date | pd.Timestamp) -> pd.DataFrame:
    """Each measure's status at its latest follow-up on or before `when`.

    Parameters
    ----------
    actions : pandas.DataFrame
        As returned by :func:`read_actions`.
    when : date-like

    Returns
    -------
    pandas.DataFrame
        One row per measure (``municipality``, ``measure_id``, ``category``,
        ``planned_start``, ``status``, ``followup_date``); ``status`` and
        ``followup_date`` are missing for measures not followed up by then.
    """
    when = pd.Timestamp(when)
    measures = actions.groupby(["municipality", "measure_id"], sort=True).agg(
        category=("category", "first"), planned_start=("planned_start", "min")
    )
    known = actions.loc[actions["followup_date"] <= when].sort_values(
        "followup_date", kind="stable"
    )
    latest = (
        known.groupby(["municipality", "measure_id"])
        .tail(1)
        .set_index(["municipality", "measure_id"])
    )
    out = measures.join(latest[["status", "followup_date"]], how="left")
    return out.reset_index()


@dataclass(frozen=True)
class ImplementationShares:
    """Share of action-plan measures done or started, per municipality and horizon.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per municipality (and ``"All"``) and horizon:
        ``horizon_months``, ``horizon_date``, ``n_measures`` (in the plan),
        ``n_not_followed_up`` (no follow-up by the horizon), ``n`` (the
        denominator), ``k`` (done or started), ``n_done``, ``n_started``,
        ``n_cancelled``, ``share``, ``wilson_lower``, ``wilson_upper``,
        ``cp_lower``, ``cp_upper``.
    project_start : pandas.Timestamp
    implemented : tuple of str
    unknown : str
        How measures without a follow-up by the horizon were counted.
    level : float
    """

    table: pd.DataFrame
    project_start: pd.Timestamp
    implemented: tuple[str, ...]
    unknown: str
    level: float

    def to_frame(self) -> pd.DataFrame:
        """The shares as a tidy frame (a copy)."""
        return self.table.copy()

    def summary(self) -> str:
        """A plain-text account per horizon and municipality."""
        lines = [
            f"Action-plan measures {' or '.join(self.implemented)}, by months after the project "
            f"start {self.project_start.date()} ({self.level:.0%} Wilson / Clopper-Pearson intervals)"
        ]
        for horizon, part in self.table.groupby("horizon_months", sort=True):
            lines.append(
                f"At {horizon} months ({pd.Timestamp(part['horizon_date'].iloc[0]).date()}):"
            )
            for row in part.itertuples(index=False):
                if row.n == 0:
                    lines.append(f"  {row.municipality:<16} no measure followed up yet")
                    continue
                text = (
                    f"  {row.municipality:<16} {row.k} of {row.n} = {row.share:.1%} "
                    f"(Wilson {row.wilson_lower:.1%} to {row.wilson_upper:.1%}; "
                    f"Clopper-Pearson {row.cp_lower:.1%} to {row.cp_upper:.1%})"
                )
                if row.n_not_followed_up:
                    verb = "left out" if self.unknown == "exclude" else "counted as not implemented"
                    text += f"; {row.n_not_followed_up} not followed up, {verb}"
                lines.append(text)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.table)


def implementation_shares(
    actions: pd.DataFrame,
    *,
    project_start: str | date | pd.Timestamp,
    horizons_months: Sequence[int] = HORIZONS_MONTHS,
    implemented: Iterable[str] = IMPLEMENTED,
    unknown: str = "exclude",
    level: float = 0.95,
) -> ImplementationShares:
    """Share of measures done or started at fixed horizons after the project start.

    A measure's status at a horizon is its status at its latest follow-up on
    or before the horizon. Cancelled measures stay in the denominator: they
    were in the plan and were not carried out.

    The Wilson interval is the main interval (good coverage at the plans'
    sizes, 19-30 measures); the exact Clopper-Pearson interval is given too,
    as it is guaranteed to cover at least the nominal level, at the price of
    being wider. The measures of one plan are treated as independent trials,
    which they are not quite (one budget, one coordinator), so the intervals
    describe sampling-like uncertainty only.

    Parameters
    ----------
    actions : pandas.DataFrame
        As returned by :func:`read_actions`.
    project_start : date-like
        The start of the project (for Trygga Platser, 2020-04-01).
    horizons_months : sequence of int, default (12, 24)
        Horizons in calendar months after the start.
    implemented : iterable of str, default {"done", "started"}
        Statuses that count as implemented.
    unknown : {"exclude", "not_implemented"}, default "exclude"
        What to do with measures not followed up by the horizon: leave them
        out of the denominator (reported in ``n_not_followed_up``) or count
        them as not implemented.
    level : float, default 0.95

    Returns
    -------
    ImplementationShares
    """
    if unknown not in ("exclude", "not_implemented"):
        raise ValueError(f"unknown must be 'exclude' or 'not_implemented', got {unknown!r}")
    implemented = tuple(sorted({str(s) for s in implemented}))
    if bad := [s for s in implemented if s not in STATUSES]:
        raise ValueError(f"unknown status(es) {bad}; statuses are {STATUSES}")
    start = pd.Timestamp(project_start)
    rows = []
    for months in horizons_months:
        horizon = start + pd.DateOffset(months=int(months))
        status = status_at(actions, horizon)
        for municipality, part in [*status.groupby("municipality", sort=True), (TOTAL, status)]:
            followed = part["status"].notna()
            n_measures = len(part)
            n = int(followed.sum()) if unknown == "exclude" else n_measures
            counts = part["status"].value_counts()
            k = int(part["status"].isin(implemented).sum())
            rows.append(
                {
                    "municipality": municipality,
                    "horizon_months": int(months),
                    "horizon_date": horizon,
                    "n_measures": n_measures,
                    "n_not_followed_up": int((~followed).sum()),
                    "n": n,
                    "k": k,
                    "n_done": int(counts.get("done", 0)),
                    "n_started": int(counts.get("started", 0)),
                    "n_cancelled": int(counts.get("cancelled", 0)),
                }
            )
    table = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["share"] = np.where(table["n"] > 0, table["k"] / table["n"], np.nan)
    table["wilson_lower"], table["wilson_upper"] = wilson_interval(
        table["share"], table["n"], level=level
    )
    table["cp_lower"], table["cp_upper"] = clopper_pearson_interval(
        table["k"], table["n"], level=level
    )
    return ImplementationShares(table, start, implemented, unknown, level)


# --------------------------------------------------------------------------
# Timeline chart
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Implementation against effect
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImplementationVsEffect:
    """Implementation share and estimated effect, side by side per municipality.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per municipality with both numbers: ``municipality``,
        ``share``, ``wilson_lower``, ``wilson_upper``, ``n``, ``k``,
        ``estimate``, ``ci_low``, ``ci_high``.
    text : str
        A careful reading of the chart.
    horizon_months : int
    effect_label : str
    null : float
        The no-effect value of the effect measure (0 for a difference, 1 for
        a ratio).
    """

    table: pd.DataFrame
    text: str
    horizon_months: int
    effect_label: str
    null: float

    def to_frame(self) -> pd.DataFrame:
        """The paired numbers as a tidy frame (a copy)."""
        return self.table.copy()

    def summary(self) -> str:
        """The text."""
        return self.text

    def _repr_html_(self) -> str:
        return summary_html(self.text, self.table)

    def plot(self, *, ax: plt.Axes | None = None, title: str | None = None, lang: str = "en"):
        """Draw the chart; see :func:`pipeline.report.figures_outcomes.plot_implementation_vs_effect`."""
        # Imported here: figures belong to the report layer, which imports this module.
        from ..report.figures_outcomes import plot_implementation_vs_effect

        return plot_implementation_vs_effect(self, ax=ax, title=title, lang=lang)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def implementation_vs_effect(
    shares: ImplementationShares | pd.DataFrame,
    effects: pd.DataFrame,
    *,
    horizon_months: int = 24,
    effect_label: str = "effect",
    null: float = 0.0,
) -> ImplementationVsEffect:
    """Set each municipality's implementation share beside its estimated effect.

    Deliberately fits no line or slope. With four municipalities there are
    four points: a correlation would have to exceed about 0.95 in absolute
    value to differ from zero at the 5 % level, and the municipalities differ
    in far more than implementation (places, baseline, co-interventions,
    pandemic exposure). The result describes; it does not estimate a
    dose-response.

    Parameters
    ----------
    shares : ImplementationShares or pandas.DataFrame
        From :func:`implementation_shares` (or its ``to_frame()``).
    effects : pandas.DataFrame
        One row per municipality: ``municipality``, ``estimate`` and
        optionally ``ci_low`` and ``ci_high`` (for instance the change in
        the share unsafe in percentage points, or a relative effect size).
    horizon_months : int, default 24
        Which horizon's share to use.
    effect_label : str, default "effect"
        The effect's name and unit, for the text and the axis.
    null : float, default 0.0
        The no-effect value (1.0 for ratios).

    Returns
    -------
    ImplementationVsEffect
        With the table, the text and a ``plot()`` method.
    """
    table = shares.to_frame() if isinstance(shares, ImplementationShares) else shares.copy()
    table = table.loc[
        (table["horizon_months"] == horizon_months) & (table["municipality"] != TOTAL)
    ]
    if table.empty:
        raise ValueError(f"no implementation shares at {horizon_months} months")
    if missing := {"municipality", "estimate"} - set(effects.columns):
        raise KeyError(f"effects lacks column(s) {sorted(missing)}")
    eff = effects.copy()
    for column in ("ci_low", "ci_high"):
        if column not in eff.columns:
            eff[column] = np.nan
    eff = eff[["municipality", "estimate", "ci_low", "ci_high"]]
    merged = table[["municipality", "n", "k", "share", "wilson_lower", "wilson_upper"]].merge(
        eff, on="municipality", how="inner"
    )
    merged = merged.sort_values("share", ascending=False, kind="stable").reset_index(drop=True)
    no_effect = sorted(set(table["municipality"]) - set(eff["municipality"]))
    no_share = sorted(set(eff["municipality"]) - set(table["municipality"]))

    lines = [
        f"Implementation at {horizon_months} months and {effect_label}, per municipality "
        "(ordered by implementation share):"
    ]
    for row in merged.itertuples(index=False):
        effect = _fmt(row.estimate)
        if not (np.isnan(row.ci_low) or np.isnan(row.ci_high)):
            effect += f" (interval {_fmt(row.ci_low)} to {_fmt(row.ci_high)})"
        lines.append(
            f"  {row.municipality}: {row.k} of {row.n} measures done or started = {row.share:.0%} "
            f"(Wilson {row.wilson_lower:.0%} to {row.wilson_upper:.0%}); {effect_label} {effect}"
        )
    if no_effect:
        lines.append(f"No effect estimate for: {', '.join(map(str, no_effect))}.")
    if no_share:
        lines.append(f"No implementation share for: {', '.join(map(str, no_share))}.")
    m = len(merged)
    caveat = f"No line or slope is fitted. {m} municipalit{'y is' if m == 1 else 'ies are'} {m} point{'s' * (m != 1)}"
    if m >= 3:
        t = stats.t.ppf(0.975, m - 2)
        r_crit = t / np.sqrt(t**2 + m - 2)
        caveat += (
            f": a correlation between them would have to exceed {r_crit:.2f} in absolute value "
            "to be distinguishable from zero at the 5 % level"
        )
    caveat += (
        ". The municipalities also differ in much besides how much of their plan they carried out: "
        "the places chosen, the level they started from, other measures running at the same time "
        "(such as camera surveillance) and how the pandemic changed footfall. The chart shows "
        "whether the municipalities that did more also changed more; it cannot say how much effect "
        "implementation buys."
    )
    lines.append(caveat)
    with_ci = merged.dropna(subset=["ci_low", "ci_high"])
    if len(with_ci) >= 2 and with_ci["ci_low"].max() <= with_ci["ci_high"].min():
        lines.append(
            "All effect intervals overlap a common range of values, so the chart gives no clear ranking of the effects."
        )
    excluding = with_ci.loc[
        (with_ci["ci_low"] > null) | (with_ci["ci_high"] < null), "municipality"
    ]
    if len(with_ci):
        lines.append(
            f"Effect intervals excluding no effect ({_fmt(null)}): "
            f"{', '.join(map(str, excluding)) if len(excluding) else 'none'}."
        )
    return ImplementationVsEffect(
        merged, "\n".join(lines), int(horizon_months), effect_label, float(null)
    )
