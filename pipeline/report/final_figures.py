"""The final report's figures, drawn in the report's language and kept as vector graphics.

Figures are SVG, so they stay sharp at any print resolution. Every function
takes keyword-only arguments and returns ``(fig, ax)``; :func:`svg_image`
turns a figure into what the report template embeds.
"""

from __future__ import annotations

import base64
import io
import textwrap
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from ..format import number
from .i18n import t
from .style import PALETTE

#: Width of the report's text column in inches (A4 less 2 × 2 cm margins).
TEXT_WIDTH_IN = 6.7

_HORIZON_MARKERS = ("o", "s", "D", "^")


@dataclass(frozen=True)
class Image:
    """An embeddable image: a data URI and its alternative text."""

    src: str
    alt: str


def svg_image(fig, alt: str) -> Image:
    """The figure as an SVG data URI (vector: sharp in print)."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "trygga-platser", "svg.fonttype": "path"}):
        # A fixed hash salt and no date keep the SVG identical from run to run.
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Image(f"data:image/svg+xml;base64,{data}", alt)


def _percent(value: float, lang: str) -> str:
    return f"{number(100 * value, lang, 0)} %"


def plot_goal_fulfilment(*, table: pd.DataFrame, goal: float, lang: str):
    """Share of each action plan done or started, per municipality and horizon, with the goal line.

    Parameters
    ----------
    table
        :func:`pipeline.actions.implementation_shares` ``.table`` without the
        total row: ``municipality``, ``horizon_months``, ``share``,
        ``wilson_lower``, ``wilson_upper``.
    goal
        The programme's goal (a share), drawn as a line.
    lang
        The report language.
    """
    municipalities = list(dict.fromkeys(table["municipality"]))
    horizons = sorted(table["horizon_months"].unique())
    height = 0.9 + 0.45 * len(municipalities) * max(1, len(horizons)) ** 0.5
    # A bare Figure, not pyplot: no backend or global figure list is touched.
    fig = Figure(figsize=(TEXT_WIDTH_IN, height), layout="constrained")
    ax = fig.subplots()
    offsets = np.linspace(-0.18, 0.18, len(horizons)) if len(horizons) > 1 else [0.0]
    for i, horizon in enumerate(horizons):
        part = table[table["horizon_months"] == horizon].set_index("municipality")
        y = np.array([municipalities.index(m) for m in part.index]) + offsets[i]
        colour = PALETTE["target"] if i == len(horizons) - 1 else PALETTE["neutral"]
        ax.errorbar(
            part["share"],
            y,
            xerr=[part["share"] - part["wilson_lower"], part["wilson_upper"] - part["share"]],
            fmt=_HORIZON_MARKERS[i % len(_HORIZON_MARKERS)],
            color=colour,
            markersize=6,
            capsize=3,
            label=t("final_fig_horizon", lang, months=int(horizon)),
        )
    ax.axvline(goal, color=PALETTE["worse"], linestyle="--", linewidth=1.2)
    ax.text(
        goal,
        -0.75,
        " " + t("final_fig_goal", lang, goal=_percent(goal, lang)),
        color=PALETTE["worse"],
        va="bottom",
        ha="left",
        fontsize=8,
    )
    ax.set_yticks(range(len(municipalities)), municipalities)
    ax.set_ylim(len(municipalities) - 0.4, -0.8)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_locator(FixedLocator(np.linspace(0, 1, 6)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _percent(v, lang)))
    ax.set_xlabel(t("final_fig_share_axis", lang))
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    fig.legend(loc="outside lower center", ncol=len(horizons), fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def plot_headline_effects(
    *, rows: pd.DataFrame, pooled: pd.Series | None, indicator_label: str, lang: str
):
    """Each target's primary rate ratio with its 95 % interval, and the pooled estimate.

    Parameters
    ----------
    rows
        One row per target: ``label``, ``estimate``, ``ci_low``, ``ci_high``.
    pooled
        The random-effects pooled estimate (``estimate``, ``ci_low``,
        ``ci_high``), drawn as a diamond, or None.
    indicator_label
        The indicator's name in the report language (the figure's title).
    lang
        The report language.
    """
    labels = [textwrap.fill(label, 34) for label in rows["label"]]
    n = len(labels) + (1 if pooled is not None else 0)
    lines = sum(label.count("\n") + 1 for label in labels) + (1 if pooled is not None else 0)
    fig = Figure(figsize=(TEXT_WIDTH_IN, 1.0 + 0.2 * lines + 0.1 * n), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(labels))
    ax.errorbar(
        rows["estimate"],
        y,
        xerr=[rows["estimate"] - rows["ci_low"], rows["ci_high"] - rows["estimate"]],
        fmt="s",
        color=PALETTE["target"],
        markersize=5,
        capsize=2.5,
    )
    if pooled is not None:
        yp = len(labels) + 0.3
        est, low, high = pooled["estimate"], pooled["ci_low"], pooled["ci_high"]
        ax.fill(
            [low, est, high, est],
            [yp, yp - 0.3, yp, yp + 0.3],
            color=PALETTE["observed"],
        )
        labels.append(t("final_fig_pooled", lang))
        y = np.append(y, yp)
    ax.axvline(1.0, color=PALETTE["neutral"], linewidth=1)
    ax.set_xscale("log")
    values = np.concatenate([rows["ci_low"], rows["ci_high"]])
    if pooled is not None:
        values = np.append(values, [pooled["ci_low"], pooled["ci_high"]])
    low, high = np.nanmin(values), np.nanmax(values)
    ticks = [v for v in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4) if low / 1.1 <= v <= high * 1.1]
    ax.set_xlim(min(low, 1) / 1.1, max(high, 1) * 1.1)
    ax.xaxis.set_major_locator(FixedLocator(ticks or [1]))
    ax.xaxis.set_major_formatter(
        FuncFormatter(
            lambda v, _pos: ("+" if v > 1 else "") + _percent(v - 1, lang).replace("-", "−")
        )
    )
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, labels)
    ax.set_ylim(max(y) + 0.7, -0.7)
    ax.set_xlabel(t("final_fig_change_axis", lang))
    ax.set_title(indicator_label, loc="left", fontsize=10)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax
