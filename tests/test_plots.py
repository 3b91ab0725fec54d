"""Figures: they draw what they say, return (fig, ax), and never show."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from pipeline.report.figures import plot_effect, plot_effect_over_time
from pipeline.results import Effect


def _effect(fitted=True):
    periods = pd.period_range("2019-01", periods=36, freq="M")
    frame = pd.DataFrame(
        {
            "period": periods,
            "observed": np.r_[np.full(18, 10.0), np.full(18, 8.0)],
            "fitted": np.r_[np.full(18, 10.0), np.full(18, 8.0)],
            "counterfactual": np.full(36, 10.0),
        }
    )
    return Effect(
        municipality="M",
        place_id="p",
        indicator="i",
        design="its",
        estimand="rate_ratio",
        estimate=0.8,
        ci_low=0.6,
        ci_high=1.0,
        p_value=0.05,
        n_pre=18,
        n_post=18,
        sms_level=2,
        method="m",
        fitted=frame if fitted else None,
    )


def test_effect_plots_return_figure_and_axes():
    start = pd.Period("2020-07", freq="M")
    fig, ax = plot_effect(effect=_effect(), start=start, title="t", lang="en")
    assert ax.get_title(loc="left") == "t" and len(ax.lines) >= 3
    fig, ax = plot_effect_over_time(effect=_effect(), start=start, lang="en")
    monthly = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(monthly)[:, 1], 0.8)  # 8 observed / 10 expected
    assert ax.get_yscale() == "log"


def test_plots_refuse_an_effect_without_fitted_values():
    with pytest.raises(ValueError, match="no fitted values"):
        plot_effect(effect=_effect(fitted=False), start=pd.Period("2020-07", freq="M"))


def test_figures_of_the_statistics_modules_are_translated_for_swedish_reports():
    import matplotlib.pyplot as plt
    import matplotlib.text

    from pipeline.report.reports import localize_figure

    fig, ax = plt.subplots()
    ax.plot([1], [1], label="before (2020-01-01)")
    ax.plot([1], [1], label="after (2022-05-01), colour = band")
    ax.text(0, 0, "planned start")
    ax.text(0, 1, "Redesign of the square")  # only whole words from the list change
    ax.legend()
    localize_figure(fig, "sv")
    texts = {t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()}
    assert {"före (2020-01-01)", "efter (2022-05-01), färg = band", "planerad start"} <= texts
    assert "Redesign of the square" in texts
    plt.close(fig)


def test_expected_band_and_cumulative_difference_follow_the_estimate_interval():
    from pipeline.report.figures import expected_band, plot_cumulative_difference

    effect = _effect()
    low, high = expected_band(effect)
    # counterfactual 10, estimate 0.8, interval 0.6-1.0: expected 8 to 13.3 per month
    np.testing.assert_allclose(low, 8.0)
    np.testing.assert_allclose(high, 10.0 * 0.8 / 0.6)
    fig, ax = plot_cumulative_difference(
        effect=effect, start=pd.Period("2020-07", freq="M"), lang="sv"
    )
    line = ax.lines[0].get_ydata()
    np.testing.assert_allclose(line, 2.0 * np.arange(1, 19))  # 10 expected - 8 observed a month
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.0) and band.max() == pytest.approx(
        18 * (10 * 0.8 / 0.6 - 8)
    )
    assert ax.get_ylabel() == "färre än förväntat"
