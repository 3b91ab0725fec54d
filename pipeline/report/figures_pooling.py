"""The forest plot of a meta-analysis: each estimate, the pooled diamonds and the prediction interval."""

from __future__ import annotations

import math
import textwrap

import numpy as np

from ..format import number
from ..methods.meta_analysis import MetaAnalysisResult
from .i18n import t
from .style import PALETTE


def forest_plot(
    result: MetaAnalysisResult,
    *,
    ax=None,
    xlabel: str = "Rate ratio",
    log_scale: bool = True,
    null: float | None = 1.0,
    ratio_scale: bool = True,
    lang: str = "en",
):
    """Forest plot of a meta-analysis on the ratio scale (or, for differences, as estimated).

    Each study is a square at its ratio with a horizontal line for its
    confidence interval; the square's area is proportional to the study's
    random-effects weight. Below them the fixed-effect and random-effects
    estimates are drawn as diamonds spanning their confidence intervals, and
    the prediction interval (when defined) as a bar on its own row. The
    column on the right gives each ratio with its interval and weight.

    Parameters
    ----------
    result : MetaAnalysisResult
        Output of :func:`meta_analyse`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created when omitted.
    xlabel : str, default "Rate ratio"
        Label of the x axis.
    log_scale : bool, default True
        Logarithmic x axis, so that ratios of 0.5 and 2 lie equally far
        from 1.
    null : float or None, default 1.0
        Where to draw the line of no effect (ratio scale); ``None`` for none.
    ratio_scale : bool, default True
        Draw ``exp`` of the estimates (ratios). False draws them as they are,
        for effects pooled as differences (percentage points, score points);
        use it with ``log_scale=False`` and ``null=0``.
    lang : {"en", "sv"}, default "en"
        The language of the row names and the numbers (decimal comma in Swedish).

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``result`` is not a :class:`MetaAnalysisResult`, or ``null`` is
        not positive on a log axis.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon
    from matplotlib.transforms import blended_transform_factory

    if not isinstance(result, MetaAnalysisResult):
        raise ValueError(
            f"result must be a MetaAnalysisResult from meta_analyse, got {type(result).__name__}"
        )
    if null is not None:
        if not np.isfinite(null):
            raise ValueError(f"null must be a finite number or None, got {null!r}")
        if log_scale and null <= 0:
            raise ValueError(f"null must be > 0 on a log-scale axis, got {null}")

    k = result.k
    frame = result.to_frame()
    studies = frame[frame["row"] == "study"]
    back = math.exp if ratio_scale else float
    if not ratio_scale:
        studies = studies.assign(
            ratio=studies["estimate"], ratio_low=studies["low"], ratio_high=studies["high"]
        )
    n_rows = k + (3 if k > 1 else 0)

    if ax is None:
        fig, ax = plt.subplots(figsize=(8.0, 1.4 + 0.5 * n_rows), layout="constrained")
    else:
        fig = ax.figure

    ys = -np.arange(k, dtype=float)
    weights = np.asarray(result.weights_random)
    sizes = 30 + 220 * weights / weights.max()
    ax.hlines(ys, studies["ratio_low"], studies["ratio_high"], color=PALETTE["observed"], lw=1.2)
    ax.scatter(studies["ratio"], ys, s=sizes, marker="s", color=PALETTE["observed"], zorder=3)

    def interval(low: float, high: float) -> str:
        if not (math.isfinite(low) and math.isfinite(high)):
            return t("not_defined", lang)
        return f"[{number(low, lang)}; {number(high, lang)}]"

    ylabels = [textwrap.shorten(str(label), width=34, placeholder=" …") for label in result.labels]
    yticks = list(ys)
    right_text = [
        f"{number(r.ratio, lang)} {interval(r.ratio_low, r.ratio_high)}  "
        f"{number(100 * r.weight_random, lang, 1)} %"
        for r in studies.itertuples(index=False)
    ]

    if k > 1:
        half_h = 0.28
        for i, (pooled, colour, name) in enumerate(
            (
                (result.fixed, PALETTE["neutral"], t("figure_fixed_effect", lang)),
                (
                    result.random,
                    PALETTE["target"],
                    t("figure_random_effects", lang, method=result.method),
                ),
            )
        ):
            y0 = -(k + i + 0.5)
            lo, mid, hi = (back(pooled.ci_low), back(pooled.estimate), back(pooled.ci_high))
            ax.add_patch(
                Polygon(
                    [(lo, y0), (mid, y0 + half_h), (hi, y0), (mid, y0 - half_h)],
                    closed=True,
                    facecolor=colour,
                    edgecolor=PALETTE["observed"],
                    lw=0.8,
                    zorder=3,
                    label=name,
                )
            )
            yticks.append(y0)
            ylabels.append(name)
            right_text.append(f"{number(mid, lang)} {interval(lo, hi)}")
        y_pi = -(k + 2.5)
        yticks.append(y_pi)
        ylabels.append(t("figure_prediction_interval", lang))
        if np.isfinite(result.pi_low):
            lo, hi = back(result.pi_low), back(result.pi_high)
            ax.hlines(
                y_pi,
                lo,
                hi,
                color=PALETTE["highlight"],
                lw=3,
                label=t("figure_prediction_interval", lang),
            )
            ax.plot(
                [back(result.random.estimate)], [y_pi], marker="|", ms=10, color=PALETTE["observed"]
            )
            right_text.append(interval(lo, hi))
        else:
            right_text.append(t("figure_not_defined_k", lang))
        ax.axhline(-(k - 0.25), color=PALETTE["neutral"], lw=0.6)

    if null is not None:
        ax.axvline(null, color=PALETTE["neutral"], ls="--", lw=1, zorder=1)
    if log_scale:
        ax.set_xscale("log")
        _plain_ratio_ticks(ax, lang)
    ax.set_yticks(yticks)
    ax.set_yticklabels(ylabels)
    ax.set_ylim(min(yticks) - 0.8, 0.8)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)

    # Numbers in a column beside the axes, aligned with each row.
    trans = blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(
        1.02,
        0.6,
        t(
            "figure_forest_header",
            lang,
            measure=t("figure_forest_ratio" if ratio_scale else "figure_forest_estimate", lang),
            level=round(100 * result.level),
        ),
        transform=trans,
        ha="left",
        va="bottom",
        fontsize="small",
        fontweight="bold",
    )
    for y, text in zip(yticks, right_text, strict=True):
        ax.text(1.02, y, text, transform=trans, ha="left", va="center", fontsize="small")
    return fig, ax


def _plain_ratio_ticks(ax, lang: str = "en") -> None:
    """Ticks at round ratios written as plain numbers (0.5, 1, 2), not powers of ten."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

    lo, hi = ax.get_xlim()
    ticks: list[float] = []
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [m * 10.0**e for e in range(-4, 5) for m in mantissas if lo <= m * 10.0**e <= hi]
        if len(ticks) >= 3:
            break
    else:  # a narrow range: evenly spaced round values read best
        ticks = [t for t in MaxNLocator(nbins=4).tick_values(lo, hi) if lo <= t <= hi and t > 0]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _pos: f"{x:g}".replace(".", "," if lang == "sv" else "."))
    )


def programme_forest_plot(
    rows,
    pooled,
    *,
    xlabel: str,
    pooled_label: str,
    lang: str = "en",
):
    """Forest plot of each municipality's estimate and the programme's pool, as the study wrote them.

    Drawn to be read at 400 px: a narrow figure, each row's interval written
    under its name, the pool as a diamond below a rule, ratios on a log axis
    with the line of no change at 1.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per municipality: ``label``, ``estimate``, ``ci_low``,
        ``ci_high`` (rate ratios).
    pooled : object with ``estimate``, ``ci_low`` and ``ci_high``
        The programme's pooled rate ratio and its interval.
    xlabel : str
        Label of the x axis.
    pooled_label : str
        Name of the pool's row.
    lang : {"en", "sv"}, default "en"
        The language of the numbers (decimal comma in Swedish).

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    ValueError
        No row, or a ratio or interval bound that is not positive and finite.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    if len(rows) == 0:
        raise ValueError("the forest plot needs at least one municipality's estimate")
    values = np.array(
        [
            *rows[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float).ravel(),
            pooled.estimate,
            pooled.ci_low,
            pooled.ci_high,
        ],
        dtype=float,
    )
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError("every ratio and interval bound must be positive and finite")

    def text(estimate: float, low: float, high: float) -> str:
        return f"{number(estimate, lang)} ({number(low, lang)}–{number(high, lang)})"

    k = len(rows)
    fig, ax = plt.subplots(figsize=(4.6, 1.3 + 0.62 * (k + 1)), layout="constrained")
    ys = -np.arange(k, dtype=float)
    ax.hlines(ys, rows["ci_low"], rows["ci_high"], color=PALETTE["observed"], lw=1.6)
    ax.scatter(rows["estimate"], ys, s=55, marker="s", color=PALETTE["observed"], zorder=3)
    labels = [
        f"{textwrap.shorten(str(r.label), width=22, placeholder=' …')}\n"
        f"{text(r.estimate, r.ci_low, r.ci_high)}"
        for r in rows.itertuples(index=False)
    ]
    y_pool = -(k + 0.4)
    lo, mid, hi = pooled.ci_low, pooled.estimate, pooled.ci_high
    ax.add_patch(
        Polygon(
            [(lo, y_pool), (mid, y_pool + 0.3), (hi, y_pool), (mid, y_pool - 0.3)],
            closed=True,
            facecolor=PALETTE["target"],
            edgecolor=PALETTE["observed"],
            lw=0.8,
            zorder=3,
        )
    )
    labels.append(f"{pooled_label}\n{text(mid, lo, hi)}")
    ax.axhline(-(k - 0.3), color=PALETTE["neutral"], lw=0.6)
    ax.axvline(1.0, color=PALETTE["neutral"], ls="--", lw=1, zorder=1)
    ax.set_xscale("log")
    low, high = float(values.min()), float(values.max())
    pad = (np.log(high) - np.log(low)) * 0.08 + 0.02
    ax.set_xlim(min(low, 1.0) * np.exp(-pad), max(high, 1.0) * np.exp(pad))
    _plain_ratio_ticks(ax, lang)
    ax.set_yticks([*ys, y_pool])
    ax.set_yticklabels(labels)
    ax.set_ylim(y_pool - 0.7, 0.7)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig, ax
