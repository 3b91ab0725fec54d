"""Figures for the indicators that are not monthly counts: survey shares, inspections, action plans.

Every function takes keyword arguments, returns ``(fig, ax)`` and never shows
the figure; colours come from :mod:`pipeline.report.style`. Each is drawn in
the language ``lang`` it is given (English by default), numbers included.

One function a figure; they stay in one module (over 500 lines) because they share the
language handling and wrapping of the non-count figures.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import date

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ..format import number
from ..inputs.inspections import SCORE_MAX, SCORE_MIN
from ..methods.implementation import HORIZONS_MONTHS, ImplementationVsEffect
from ..methods.inspection import InspectionChange
from ..methods.survey import SurveyShares
from .i18n import t
from .style import FIGURE_WIDTH_IN, LINESTYLES, PALETTE
from .words import IMPLEMENTATION_GOAL

#: The longest line of a title or axis label, and of a label beside an axis, in characters:
#: wrapped, they fit a figure :data:`.style.FIGURE_WIDTH_IN` wide.
TITLE_WIDTH_CHARS = 48
LABEL_WIDTH_CHARS = 26

_GROUP_COLOURS = ("target", "control", "buffer", "highlight", "fitted", "counterfactual", "neutral")


def plot_shares(
    shares: SurveyShares, *, ax: plt.Axes | None = None, title: str | None = None, lang: str = "en"
):
    """Share unsafe per wave, one line per group, with interval bars.

    Suppressed cells are left out; unreliable ones (n < 30) are drawn with
    hollow markers.

    Parameters
    ----------
    shares : SurveyShares
        From :func:`share_unsafe`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure otherwise.
    title : str, optional
    lang : {"en", "sv"}, default "en"
        The language of the axis labels.

    Returns
    -------
    (fig, ax)
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 3.8), layout="constrained")
    else:
        fig = ax.figure
    table = shares.table.loc[~shares.table["suppressed"]]
    keys = list(shares.by)
    groups = table.groupby(keys, sort=True) if keys else [("all", table)]
    for i, (name, part) in enumerate(groups):
        colour = PALETTE[_GROUP_COLOURS[i % len(_GROUP_COLOURS)]]
        label = " / ".join(map(str, name)) if isinstance(name, tuple) else str(name)
        part = part.sort_values("wave")
        x = pd.to_datetime(part["wave"])
        y = 100 * part["share"]
        err = np.vstack([y - 100 * part["ci_low"], 100 * part["ci_high"] - y])
        ax.errorbar(
            x,
            y,
            yerr=err,
            color=colour,
            linestyle=LINESTYLES["observed"],
            marker="o",
            capsize=3,
            label=label,
            markerfacecolor=colour,
        )
        weak = part["unreliable"].to_numpy()
        if weak.any():
            ax.plot(
                x[weak],
                y[weak],
                linestyle="none",
                marker="o",
                markerfacecolor="white",
                markeredgecolor=colour,
                zorder=3,
            )
    waves = sorted(pd.to_datetime(table["wave"]).unique())
    ax.set_xticks(waves, [pd.Timestamp(w).strftime("%Y-%m-%d") for w in waves])
    ax.set_ylabel(t("axis_share_unsafe", lang, answers="/".join(map(str, shares.unsafe))))
    ax.set_ylim(bottom=0)
    title = title or t("figure_shares_title", lang, question=shares.question)
    ax.set_title(textwrap.fill(title, TITLE_WIDTH_CHARS), loc="left")
    ax.legend(frameon=False)
    return fig, ax


BAND_COLOURS = {"red": PALETTE["worse"], "yellow": PALETTE["warning"], "green": PALETTE["better"]}


def plot_inspection(
    change: InspectionChange,
    *,
    ax: plt.Axes | None = None,
    title: str | None = None,
    lang: str = "en",
):
    """Dumbbell chart: each aspect's score before (open) and after (filled).

    The background shows the bands; the after marker takes its band's colour
    and an arrow shows the direction of change, so the chart stays readable in
    grey.

    Parameters
    ----------
    change : InspectionChange
        From :func:`inspection_change`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure otherwise.
    title : str, optional
    lang : {"en", "sv"}, default "en"
        The language of the bands, axis and legend.

    Returns
    -------
    (fig, ax)
    """
    table = change.table
    k = len(table)
    if ax is None:
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 0.5 * k + 2.2), layout="constrained")
    else:
        fig = ax.figure
    for name, low, high in change.bands:
        colour = BAND_COLOURS.get(name, PALETTE["neutral"])
        ax.axvspan(low - 0.5, high + 0.5, color=colour, alpha=0.18, linewidth=0, zorder=0)
        ax.text(
            (low + high) / 2,
            1.01,
            t(f"fig_{name}", lang) if name in BAND_COLOURS else name,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize="small",
            color="#333333",
        )
    y = np.arange(k)[::-1]
    for yi, row in zip(y, table.itertuples(index=False), strict=True):
        if row.change != 0:
            direction = PALETTE["better"] if row.change > 0 else PALETTE["worse"]
            ax.annotate(
                "",
                xy=(row.score_after, yi),
                xytext=(row.score_before, yi),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": direction,
                    "lw": 1.8,
                    "shrinkA": 5,
                    "shrinkB": 6,
                },
                zorder=2,
            )
        ax.plot(
            row.score_before,
            yi,
            marker="o",
            markersize=8,
            markerfacecolor="white",
            markeredgecolor=PALETTE["observed"],
            linestyle="none",
            zorder=3,
        )
        ax.plot(
            row.score_after,
            yi,
            marker="o",
            markersize=9,
            markerfacecolor=BAND_COLOURS.get(row.band_after, PALETTE["neutral"]),
            markeredgecolor=PALETTE["observed"],
            linestyle="none",
            zorder=4,
        )
    ax.set_yticks(y, [textwrap.fill(str(a), LABEL_WIDTH_CHARS) for a in table["aspect"]])
    ax.set_xlim(SCORE_MIN - 0.5, SCORE_MAX + 0.5)
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_xticks(range(SCORE_MIN, SCORE_MAX + 1, 4))
    ax.set_xlabel(textwrap.fill(t("axis_inspection", lang), TITLE_WIDTH_CHARS))
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            markerfacecolor="white",
            markeredgecolor=PALETTE["observed"],
            linestyle="none",
            label=f"{t('fig_before', lang)} ({change.before.date()})",
        ),
        Line2D(
            [],
            [],
            marker="o",
            markerfacecolor=PALETTE["neutral"],
            markeredgecolor=PALETTE["observed"],
            linestyle="none",
            label=f"{t('fig_after', lang)} ({change.after.date()}), {t('fig_colour_band', lang)}",
        ),
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 - 0.5 / max(k, 1)),
        ncol=1,
        frameon=False,
    )
    ax.set_title(
        title
        or t(
            "figure_inspection_title",
            lang,
            place=change.place_id,
            before=change.total_before,
            after=change.total_after,
            max=change.max_total,
        ),
        pad=18,
    )
    return fig, ax


# Colour and marker per status: the marker keeps statuses apart in grey print.
STATUS_STYLE = {
    "planned": {"color": PALETTE["neutral"], "marker": "o", "fill": False},
    "started": {"color": PALETTE["target"], "marker": ">", "fill": True},
    "done": {"color": PALETTE["better"], "marker": "s", "fill": True},
    "cancelled": {"color": PALETTE["worse"], "marker": "X", "fill": True},
}


def plot_action_timeline(
    actions: pd.DataFrame,
    *,
    project_start: str | date | pd.Timestamp | None = None,
    horizons_months: Sequence[int] = HORIZONS_MONTHS,
    municipality: str | None = None,
    ax: plt.Axes | None = None,
    title: str | None = None,
    lang: str = "en",
):
    """One line per measure, named by its description and category: its status from follow-up
    to follow-up.

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
    lang : {"en", "sv"}, default "en"
        The language of the statuses, categories, legend and horizons.

    Returns
    -------
    (fig, ax)
    """
    data = actions if municipality is None else actions.loc[actions["municipality"] == municipality]
    if data.empty:
        raise ValueError(f"no measures for {municipality!r}")
    order = (
        data.groupby(["municipality", "measure_id"], sort=False)
        .agg(
            planned_start=("planned_start", "min"),
            description=("description", "first"),
            category=("category", "first"),
        )
        .reset_index()
        .sort_values(["municipality", "planned_start", "measure_id"], kind="stable")
    )
    n_rows = len(order) + order["municipality"].nunique() - 1
    if ax is None:
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 0.55 * n_rows + 2.2), layout="constrained")
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
        labels.append(_measure_label(row, lang, with_municipality=municipality is None))
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
                f" {months} {t('fig_months', lang)}",
                transform=ax.get_xaxis_transform(),
                va="bottom",
                fontsize="small",
            )
        end = max(end, start + pd.DateOffset(months=int(max(horizons_months, default=0))))
    ax.set_xlim(right=end + pd.Timedelta(days=45))
    ax.set_yticks(ypos, labels, fontsize="small")
    ax.set_ylim(-0.8, n_rows - 0.2)
    handles = [
        Line2D(
            [],
            [],
            marker=s["marker"],
            color=s["color"],
            markerfacecolor=s["color"] if s["fill"] else "white",
            linewidth=3,
            label=t(f"fig_{name}", lang),
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
            label=t("fig_planned_start", lang),
        )
    ]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, frameon=False
    )
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.xaxis.set_minor_locator(mdates.MonthLocator((1, 4, 7, 10)))
    ax.set_title(title or t("figure_timeline_title", lang), pad=16)
    return fig, ax


def _measure_label(row, lang: str, *, with_municipality: bool) -> str:
    """A measure as a reader knows it: its description (shortened) and category."""
    description = str(row.description).strip() if isinstance(row.description, str) else ""
    text = textwrap.shorten(description or str(row.measure_id), width=44, placeholder=" …")
    category = row.category if isinstance(row.category, str) else "other"
    label = f"{text} ({t(f'category_{category}', lang)})"
    if with_municipality:
        label = f"{row.municipality}: {label}"
    # Wrapped, so the labels leave the time axis most of a narrow figure's width.
    return textwrap.fill(label, width=LABEL_WIDTH_CHARS)


def plot_implementation_shares(
    shares: pd.DataFrame,
    *,
    labels: Sequence[str],
    ax: plt.Axes | None = None,
    title: str | None = None,
    lang: str = "en",
):
    """Share of measures done or started per row, with its Wilson interval and the goal line.

    Parameters
    ----------
    shares : pandas.DataFrame
        Rows of :attr:`ImplementationShares.table` (``share``, ``wilson_lower``,
        ``wilson_upper``), one bar each.
    labels : sequence of str
        A label per row (a municipality, or a horizon).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure otherwise.
    title : str, optional
    lang : {"en", "sv"}, default "en"

    Returns
    -------
    (fig, ax)
    """
    if len(labels) != len(shares):
        raise ValueError(f"{len(labels)} labels for {len(shares)} rows")
    if ax is None:
        fig, ax = plt.subplots(
            figsize=(FIGURE_WIDTH_IN, 0.55 * len(shares) + 1.6), layout="constrained"
        )
    else:
        fig = ax.figure
    y = np.arange(len(shares))[::-1]
    share = 100 * shares["share"].to_numpy(dtype=float)
    low = 100 * shares["wilson_lower"].to_numpy(dtype=float)
    high = 100 * shares["wilson_upper"].to_numpy(dtype=float)
    reached = share > 100 * IMPLEMENTATION_GOAL
    ax.barh(
        y,
        share,
        height=0.6,
        color=[PALETTE["better"] if r else PALETTE["neutral"] for r in reached],
        edgecolor=PALETTE["observed"],
        linewidth=0.6,
    )
    ax.errorbar(
        share, y, xerr=np.vstack([share - low, high - share]), fmt="none", ecolor="black", capsize=4
    )
    for yi, value in zip(y, share, strict=True):
        ax.text(2, yi, f"{number(value, lang, 0)} %", va="center", ha="left", fontsize="small")
    ax.axvline(
        100 * IMPLEMENTATION_GOAL,
        color=PALETTE["counterfactual"],
        linestyle="--",
        linewidth=1.6,
        label=t("figure_goal_line", lang),
    )
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 100)
    ax.set_xlabel(textwrap.fill(t("axis_implemented_share", lang), TITLE_WIDTH_CHARS))
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize="small")
    if title:
        ax.set_title(title, loc="left")
    return fig, ax


def plot_implementation_vs_effect(
    result: ImplementationVsEffect,
    *,
    ax: plt.Axes | None = None,
    title: str | None = None,
    lang: str = "en",
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
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.0), layout="constrained")
    else:
        fig = ax.figure
    table = result.table
    x = 100 * table["share"]
    xerr = np.vstack([x - 100 * table["wilson_lower"], 100 * table["wilson_upper"] - x])
    y = table["estimate"]
    has_ci = table[["ci_low", "ci_high"]].notna().all(axis=1)
    yerr = np.vstack(
        [np.where(has_ci, y - table["ci_low"], 0), np.where(has_ci, table["ci_high"] - y, 0)]
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
    for xi, yi, name in zip(x, y, table["municipality"], strict=True):
        ax.annotate(
            str(name), (xi, yi), xytext=(6, 6), textcoords="offset points", fontsize="small"
        )
    ax.axvline(
        100 * IMPLEMENTATION_GOAL,
        color=PALETTE["counterfactual"],
        linestyle="--",
        linewidth=1.4,
        label=t("figure_goal_line", lang),
    )
    ax.legend(loc="best", fontsize="small")
    ax.set_xlim(0, 100)
    ax.set_xlabel(t("axis_implementation", lang, horizon=result.horizon_months))
    ax.set_ylabel(result.effect_label)
    ax.set_title(textwrap.fill(title or t("figure_implementation_title", lang), TITLE_WIDTH_CHARS))
    return fig, ax
