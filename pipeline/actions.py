"""Implementation of the action plans (åtgärdsplaner).

How much of a municipality's action plan was carried out is both a result in
itself (the funder asks for it) and context for any effect: a plan that was
not implemented cannot have worked.

File ``actions.csv`` holds one row per measure and follow-up:

=============  ========  ========================================================
column         type      meaning
=============  ========  ========================================================
municipality   text      one of the study's municipalities
place_id       text      the place the measure concerns; may be blank
measure_id     text      the measure's id, unique within the municipality
description    text      what the measure is
category       text      lighting, vegetation, cleaning, guards, cameras,
                         events, redesign or other
planned_start  ISO date  when the plan says the measure starts (``YYYY-MM-DD``)
followup_date  ISO date  the follow-up this row reports
status         text      planned, started, done or cancelled at that follow-up
=============  ========  ========================================================

The implementation share is the share of measures done or started, with a
Wilson and an exact Clopper-Pearson interval, at fixed horizons (12 and 24
months) after the project start, using each measure's status at its latest
follow-up on or before the horizon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from scipy import stats

from pipeline.errors import Problem, ValidationError
from pipeline.style import PALETTE
from pipeline.survey import wilson_interval
from pipeline.tables import (
    LINE,
    canonical,
    check_municipality_and_place,
    parse_date,
    place_lookup,
    read_table,
    summary_html,
)

__all__ = [
    "CATEGORIES",
    "HORIZONS_MONTHS",
    "IMPLEMENTED",
    "STATUSES",
    "ImplementationShares",
    "ImplementationVsEffect",
    "clopper_pearson_interval",
    "implementation_shares",
    "implementation_vs_effect",
    "plot_action_timeline",
    "plot_implementation_vs_effect",
    "read_actions",
    "status_at",
]

CATEGORIES = (
    "lighting",
    "vegetation",
    "cleaning",
    "guards",
    "cameras",
    "events",
    "redesign",
    "other",
)
STATUSES = ("planned", "started", "done", "cancelled")
IMPLEMENTED = frozenset({"done", "started"})
HORIZONS_MONTHS = (12, 24)
TOTAL = "All"

# Colour and marker per status: the marker keeps statuses apart in grey print.
STATUS_STYLE = {
    "planned": {"color": PALETTE["neutral"], "marker": "o", "fill": False},
    "started": {"color": PALETTE["target"], "marker": ">", "fill": True},
    "done": {"color": PALETTE["better"], "marker": "s", "fill": True},
    "cancelled": {"color": PALETTE["worse"], "marker": "X", "fill": True},
}


# --------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------


def read_actions(
    path: str | Path,
    *,
    municipalities: Iterable[str],
    places: Iterable[str] | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read and validate ``actions.csv``.

    Parameters
    ----------
    path : str or Path
        The file, read by the study rule (:mod:`pipeline.tables`): UTF-8,
        UTF-16 or Windows-1252; ``;``, ``,`` or tab separated.
    municipalities : iterable of str
        The study's municipalities; matched regardless of case.
    places : iterable of str or mapping of str to str, optional
        Known place ids; a mapping ``place_id -> municipality`` also checks
        that the place lies in the row's municipality.

    Returns
    -------
    pandas.DataFrame
        Columns ``municipality``, ``place_id`` (missing when blank),
        ``measure_id``, ``description``, ``category``, ``planned_start`` and
        ``followup_date`` (datetime64), ``status``; sorted by municipality,
        measure and follow-up date.

    Raises
    ------
    pipeline.errors.ValidationError
        Listing every problem with file, line and column: unknown
        municipality, place, category or status, blank id or description, a
        date that is not ``YYYY-MM-DD``, two rows for the same measure and
        follow-up date, or one measure given different categories.
    """
    table = read_table(
        path,
        required=(
            "municipality",
            "measure_id",
            "description",
            "category",
            "planned_start",
            "followup_date",
            "status",
        ),
        optional=("place_id",),
    )
    file, problems = table.file, table.problems
    known = canonical(municipalities)
    known_places = place_lookup(places)
    rows: list[dict[str, object]] = []
    first_seen: dict[tuple[str, str, date], int] = {}
    category_of: dict[tuple[str, str], tuple[int, str]] = {}

    for row in table.frame.to_dict("records"):
        line = int(row[LINE])
        municipality, place_id, ok = check_municipality_and_place(
            file,
            line,
            str(row["municipality"]),
            str(row["place_id"]),
            known,
            known_places,
            problems,
        )
        measure = str(row["measure_id"])
        if not measure:
            problems.append(Problem(file, "measure_id is blank", line, "measure_id"))
            ok = False
        if not row["description"]:
            problems.append(Problem(file, "description is blank", line, "description"))
            ok = False
        category = str(row["category"]).casefold()
        if category not in CATEGORIES:
            problems.append(
                Problem(
                    file,
                    f"unknown category '{row['category']}' (expected one of: {', '.join(CATEGORIES)})",
                    line,
                    "category",
                )
            )
            ok = False
        status = str(row["status"]).casefold()
        if status not in STATUSES:
            problems.append(
                Problem(
                    file,
                    f"unknown status '{row['status']}' (expected one of: {', '.join(STATUSES)})",
                    line,
                    "status",
                )
            )
            ok = False
        dates = {}
        for column in ("planned_start", "followup_date"):
            dates[column] = parse_date(str(row[column]))
            if dates[column] is None:
                problems.append(
                    Problem(file, f"'{row[column]}' is not a date written YYYY-MM-DD", line, column)
                )
                ok = False
        if not ok:
            continue
        key = (municipality, measure, dates["followup_date"])
        if key in first_seen:
            problems.append(
                Problem(
                    file,
                    f"measure {measure} of {municipality} has two rows for the follow-up on "
                    f"{dates['followup_date']} (first on line {first_seen[key]})",
                    line,
                    "followup_date",
                )
            )
            continue
        first_seen[key] = line
        earlier = category_of.setdefault((municipality, measure), (line, category))
        if earlier[1] != category:
            problems.append(
                Problem(
                    file,
                    f"measure {measure} of {municipality} is '{earlier[1]}' on line {earlier[0]} "
                    f"but '{category}' here",
                    line,
                    "category",
                )
            )
        rows.append(
            {
                "municipality": municipality,
                "place_id": place_id,
                "measure_id": measure,
                "description": str(row["description"]),
                "category": category,
                "planned_start": dates["planned_start"],
                "followup_date": dates["followup_date"],
                "status": status,
            }
        )
    if problems:
        raise ValidationError(problems)
    frame = pd.DataFrame(rows)
    for column in ("planned_start", "followup_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame.sort_values(
        ["municipality", "measure_id", "followup_date"], kind="stable"
    ).reset_index(drop=True)


# --------------------------------------------------------------------------
# Implementation share
# --------------------------------------------------------------------------


def clopper_pearson_interval(k, n, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) interval for a binomial proportion.

    Parameters
    ----------
    k, n : int or array_like
        Successes and trials.
    level : float, default 0.95

    Returns
    -------
    (lower, upper) : tuple of numpy.ndarray
        0 and 1 at the edges (k = 0, k = n); NaN where n = 0.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    alpha = 1 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        upper = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    lower = np.where(n > 0, lower, np.nan)
    upper = np.where(n > 0, upper, np.nan)
    return lower, upper


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


def plot_action_timeline(
    actions: pd.DataFrame,
    *,
    project_start: str | date | pd.Timestamp | None = None,
    horizons_months: Sequence[int] = HORIZONS_MONTHS,
    municipality: str | None = None,
    ax: plt.Axes | None = None,
    title: str | None = None,
):
    """One line per measure: its status from follow-up to follow-up.

    A segment runs from each follow-up to the next in the colour of the status
    reported; markers at the follow-ups differ by status; a grey tick marks
    the planned start. Dashed lines mark the horizons after the project start.

    Parameters
    ----------
    actions : pandas.DataFrame
        As returned by :func:`read_actions`.
    project_start : date-like, optional
        Draws the start and the horizons when given.
    horizons_months : sequence of int, default (12, 24)
    municipality : str, optional
        Only this municipality's measures.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure otherwise.
    title : str, optional

    Returns
    -------
    (fig, ax)
    """
    data = actions if municipality is None else actions.loc[actions["municipality"] == municipality]
    if data.empty:
        raise ValueError(f"no measures for {municipality!r}")
    order = (
        data.groupby(["municipality", "measure_id"], sort=False)
        .agg(planned_start=("planned_start", "min"))
        .reset_index()
        .sort_values(["municipality", "planned_start", "measure_id"], kind="stable")
    )
    n_rows = len(order) + order["municipality"].nunique() - 1
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 0.24 * n_rows + 1.8))
    else:
        fig = ax.figure
    ypos, labels, y = [], [], n_rows
    last_municipality = None
    end = data["followup_date"].max()
    for row in order.itertuples(index=False):
        if last_municipality is not None and row.municipality != last_municipality:
            y -= 1  # a blank row between municipalities
        last_municipality = row.municipality
        y -= 1
        ypos.append(y)
        labels.append(
            f"{row.municipality} {row.measure_id}" if municipality is None else row.measure_id
        )
        follow = data.loc[
            (data["municipality"] == row.municipality) & (data["measure_id"] == row.measure_id)
        ].sort_values("followup_date")
        dates = follow["followup_date"].tolist()
        statuses = follow["status"].tolist()
        for i, (when, status) in enumerate(zip(dates, statuses, strict=True)):
            style = STATUS_STYLE[status]
            until = dates[i + 1] if i + 1 < len(dates) else None
            if until is not None:
                ax.plot(
                    [when, until],
                    [y, y],
                    color=style["color"],
                    linewidth=3,
                    solid_capstyle="butt",
                    zorder=1,
                )
            ax.plot(
                when,
                y,
                marker=style["marker"],
                markersize=7,
                linestyle="none",
                zorder=3,
                markeredgecolor=style["color"],
                markerfacecolor=style["color"] if style["fill"] else "white",
            )
        ax.plot(row.planned_start, y, marker="|", markersize=9, color=PALETTE["observed"], zorder=2)
    if project_start is not None:
        start = pd.Timestamp(project_start)
        ax.axvline(start, color=PALETTE["observed"], linewidth=1)
        for months in horizons_months:
            horizon = start + pd.DateOffset(months=int(months))
            ax.axvline(horizon, color=PALETTE["observed"], linestyle="--", linewidth=1)
            ax.text(
                horizon,
                1.0,
                f" {months} mo",
                transform=ax.get_xaxis_transform(),
                va="bottom",
                fontsize=8,
            )
        end = max(end, start + pd.DateOffset(months=int(max(horizons_months, default=0))))
    ax.set_xlim(right=end + pd.Timedelta(days=45))
    ax.set_yticks(ypos, labels, fontsize=8)
    ax.set_ylim(-0.8, n_rows - 0.2)
    handles = [
        Line2D(
            [],
            [],
            marker=s["marker"],
            color=s["color"],
            markerfacecolor=s["color"] if s["fill"] else "white",
            linewidth=3,
            label=name,
        )
        for name, s in STATUS_STYLE.items()
    ] + [
        Line2D(
            [],
            [],
            marker="|",
            color=PALETTE["observed"],
            linestyle="none",
            markersize=9,
            label="planned start",
        )
    ]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.04), ncol=5, frameon=False
    )
    ax.set_title(title or "Action-plan measures: status at each follow-up", pad=14)
    fig.tight_layout()
    return fig, ax


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
        ``estimate``, ``ci_lower``, ``ci_upper``.
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

    def plot(self, *, ax: plt.Axes | None = None, title: str | None = None):
        """Draw the chart; see :func:`plot_implementation_vs_effect`."""
        return plot_implementation_vs_effect(self, ax=ax, title=title)


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
        optionally ``ci_lower`` and ``ci_upper`` (for instance the change in
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
    for column in ("ci_lower", "ci_upper"):
        if column not in eff.columns:
            eff[column] = np.nan
    eff = eff[["municipality", "estimate", "ci_lower", "ci_upper"]]
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
        if not (np.isnan(row.ci_lower) or np.isnan(row.ci_upper)):
            effect += f" (interval {_fmt(row.ci_lower)} to {_fmt(row.ci_upper)})"
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
    with_ci = merged.dropna(subset=["ci_lower", "ci_upper"])
    if len(with_ci) >= 2 and with_ci["ci_lower"].max() <= with_ci["ci_upper"].min():
        lines.append(
            "All effect intervals overlap a common range of values, so the chart gives no clear ranking of the effects."
        )
    excluding = with_ci.loc[
        (with_ci["ci_lower"] > null) | (with_ci["ci_upper"] < null), "municipality"
    ]
    if len(with_ci):
        lines.append(
            f"Effect intervals excluding no effect ({_fmt(null)}): "
            f"{', '.join(map(str, excluding)) if len(excluding) else 'none'}."
        )
    return ImplementationVsEffect(
        merged, "\n".join(lines), int(horizon_months), effect_label, float(null)
    )


def plot_implementation_vs_effect(
    result: ImplementationVsEffect, *, ax: plt.Axes | None = None, title: str | None = None
):
    """Scatter of implementation share against effect, with both intervals and no fitted line.

    Parameters
    ----------
    result : ImplementationVsEffect
        From :func:`implementation_vs_effect`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure otherwise.
    title : str, optional

    Returns
    -------
    (fig, ax)
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
    else:
        fig = ax.figure
    t = result.table
    x = 100 * t["share"]
    xerr = np.vstack([x - 100 * t["wilson_lower"], 100 * t["wilson_upper"] - x])
    y = t["estimate"]
    has_ci = t[["ci_lower", "ci_upper"]].notna().all(axis=1)
    yerr = np.vstack(
        [np.where(has_ci, y - t["ci_lower"], 0), np.where(has_ci, t["ci_upper"] - y, 0)]
    )
    ax.axhline(result.null, color=PALETTE["neutral"], linestyle=":", linewidth=1)
    ax.errorbar(
        x,
        y,
        xerr=xerr,
        yerr=yerr,
        fmt="o",
        color=PALETTE["target"],
        ecolor=PALETTE["neutral"],
        capsize=3,
        markersize=7,
    )
    for xi, yi, name in zip(x, y, t["municipality"], strict=True):
        ax.annotate(str(name), (xi, yi), xytext=(6, 6), textcoords="offset points", fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xlabel(
        f"measures done or started at {result.horizon_months} months, % (Wilson interval)"
    )
    ax.set_ylabel(result.effect_label)
    ax.set_title(title or "Implementation and effect per municipality (no line fitted)")
    fig.tight_layout()
    return fig, ax
