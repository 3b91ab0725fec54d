"""Figures. Each function takes keyword-only arguments and returns ``(fig, ax)``."""

from __future__ import annotations

import matplotlib
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..inputs.study import Shock
from ..results import Effect
from .i18n import t
from .style import FIGURE_WIDTH_IN, LINESTYLES, PALETTE, SHADE, SHADE_ALPHA


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def expected_band(effect: Effect) -> tuple[np.ndarray, np.ndarray]:
    """The expected counts without the measures, low and high, as the estimate's interval implies.

    The design's rate ratio says how far the counts after the start stand from
    the expected ones; its 95 % interval therefore bounds the expected level:
    ``counterfactual × estimate / ci_high`` to ``counterfactual × estimate / ci_low``.
    """
    expected = effect.fitted["counterfactual"].to_numpy(dtype=float)
    if effect.estimand != "rate_ratio" or not np.isfinite([effect.ci_low, effect.ci_high]).all():
        return expected, expected
    return (
        expected * effect.estimate / effect.ci_high,
        expected * effect.estimate / effect.ci_low,
    )


def plot_effect(
    *,
    effect: Effect,
    start: pd.Period,
    shocks: tuple[Shock, ...] = (),
    title: str | None = None,
    lang: str = "sv",
    ax=None,
):
    """Observed counts, the model's fit and the counterfactual without the measures.

    After the start the counterfactual carries the band its estimate's 95 %
    interval implies (:func:`expected_band`). The intervention start is a
    vertical line; declared shocks (COVID-19) are shaded.
    """
    if effect.fitted is None:
        raise ValueError(f"{effect.design} for {effect.place_id} carries no fitted values to plot")
    fig, ax = _axes(ax, (FIGURE_WIDTH_IN, 3.4))
    frame = effect.fitted
    x = pd.PeriodIndex(frame["period"]).to_timestamp()
    post = x >= start.to_timestamp()
    for shock in shocks:
        end = pd.Timestamp(shock.end) if shock.end is not None else x.max()
        label = shock.label_sv if lang == "sv" else shock.label_en
        ax.axvspan(
            pd.Timestamp(shock.start), end, color=SHADE["covid"], alpha=SHADE_ALPHA, label=label
        )
    ax.plot(
        x,
        frame["observed"],
        color=PALETTE["observed"],
        lw=0.8,
        marker="o",
        ms=2.5,
        label=t("figure_observed", lang),
    )
    ax.plot(
        x,
        frame["fitted"],
        color=PALETTE["fitted"],
        lw=1.6,
        ls=LINESTYLES["fitted"],
        label=t("figure_fitted", lang),
    )
    low, high = expected_band(effect)
    ax.fill_between(
        x[post],
        low[post],
        high[post],
        color=PALETTE["counterfactual"],
        alpha=0.18,
        lw=0,
        label=t("figure_expected_band", lang),
    )
    ax.plot(
        x[post],
        frame["counterfactual"][post],
        color=PALETTE["counterfactual"],
        lw=1.8,
        ls=LINESTYLES["counterfactual"],
        label=t("figure_counterfactual", lang),
    )
    ax.axvline(start.to_timestamp(), color=PALETTE["target"], lw=1.2, label=t("figure_start", lang))
    ax.set_ylabel(t("figure_ylabel", lang))
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, loc="left", fontsize="medium")
    ax.legend(
        fontsize="small", ncol=1, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False
    )
    return fig, ax


def plot_cumulative_difference(
    *,
    effect: Effect,
    start: pd.Period,
    lang: str = "sv",
    ax=None,
):
    """Crimes fewer than expected without the measures, added up month by month from the start.

    The line is the sum of expected minus observed counts; the band is the same
    sum over the expected counts' band (:func:`expected_band`). A line above
    zero means fewer crimes than expected.
    """
    if effect.fitted is None:
        raise ValueError(f"{effect.design} for {effect.place_id} carries no fitted values to plot")
    fig, ax = _axes(ax, (FIGURE_WIDTH_IN, 2.8))
    frame = effect.fitted
    periods = pd.PeriodIndex(frame["period"])
    post = periods >= start
    x = periods[post].to_timestamp()
    observed = frame["observed"].to_numpy(dtype=float)[post]
    expected = frame["counterfactual"].to_numpy(dtype=float)[post]
    low, high = (band[post] for band in expected_band(effect))
    ax.fill_between(
        x,
        np.cumsum(low - observed),
        np.cumsum(high - observed),
        color=PALETTE["target"],
        alpha=0.2,
        lw=0,
        label=t("figure_interval", lang),
    )
    ax.plot(
        x,
        np.cumsum(expected - observed),
        color=PALETTE["target"],
        lw=1.8,
        label=t("figure_cumulative", lang),
    )
    ax.axhline(0, color=PALETTE["neutral"], lw=1)
    ax.set_ylabel(t("figure_cumulative_axis", lang))
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize="small", ncol=1, loc="upper left", frameon=False)
    return fig, ax


def plot_effect_and_cumulative(
    *,
    effect: Effect,
    start: pd.Period,
    shocks: tuple[Shock, ...] = (),
    title: str | None = None,
    lang: str = "sv",
):
    """:func:`plot_effect` above :func:`plot_cumulative_difference`, on one time axis.

    Returns ``(fig, (top, bottom))``.
    """
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(FIGURE_WIDTH_IN, 6.4), height_ratios=(3, 2), layout="constrained"
    )
    plot_effect(effect=effect, start=start, shocks=shocks, title=title, lang=lang, ax=top)
    plot_cumulative_difference(effect=effect, start=start, lang=lang, ax=bottom)
    bottom.set_xlim(top.get_xlim())
    return fig, (top, bottom)


def plot_effect_over_time(
    *,
    effect: Effect,
    start: pd.Period,
    lang: str = "sv",
    window: int = 6,
    ax=None,
):
    """The monthly ratio observed / expected without the measures after the start.

    Dots are single months, the line their centred rolling mean over ``window``
    months (on the log scale), the dashed line the design's estimate: a reader
    sees whether the effect came at once, grew or faded.
    """
    if effect.fitted is None:
        raise ValueError(f"{effect.design} for {effect.place_id} carries no fitted values to plot")
    fig, ax = _axes(ax, (FIGURE_WIDTH_IN, 2.6))
    frame = effect.fitted
    periods = pd.PeriodIndex(frame["period"])
    post = periods >= start
    x = periods[post].to_timestamp()
    observed = frame["observed"].to_numpy()[post]
    expected = frame["counterfactual"].to_numpy()[post]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)
    rolling = np.exp(
        pd.Series(np.log(np.where(ratio > 0, ratio, np.nan)))
        .rolling(window, center=True, min_periods=max(2, window // 2))
        .mean()
        .to_numpy()
    )
    ax.scatter(x, ratio, s=8, color=PALETTE["neutral"], label=t("figure_monthly_ratio", lang))
    ax.plot(
        x,
        rolling,
        color=PALETTE["target"],
        lw=1.8,
        label=t("figure_rolling_ratio", lang, months=window),
    )
    ax.axhline(1.0, color=PALETTE["neutral"], lw=1)
    ax.axhline(
        effect.estimate,
        color=PALETTE["counterfactual"],
        lw=1.4,
        ls="--",
        label=t("figure_estimate", lang),
    )
    ax.set_yscale("log")
    finite = ratio[np.isfinite(ratio) & (ratio > 0)]
    low = min(finite.min(), effect.estimate) if finite.size else 0.5
    high = max(finite.max(), effect.estimate, 1.0) if finite.size else 2.0
    ticks = [
        v for v in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10) if low / 1.3 <= v <= high * 1.3
    ]
    ax.set_yticks(ticks, [f"{v:g}" for v in ticks])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylabel(t("figure_ratio_short", lang))
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(
        fontsize="small", ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False
    )
    return fig, ax
