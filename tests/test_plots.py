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


def _texts(fig) -> set[str]:
    import matplotlib.text

    return {t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()}


def test_figures_are_drawn_in_the_report_language():
    """Regression: Swedish reports showed figures drawn in English and relabelled afterwards
    ("Fixed effect", "Prediction interval", decimal points in Swedish forest plots)."""
    import matplotlib.pyplot as plt

    from pipeline.methods.meta_analysis import meta_analyse
    from pipeline.report.figures_outcomes import plot_action_timeline
    from pipeline.report.figures_pooling import forest_plot

    actions = pd.DataFrame(
        {
            "municipality": ["Sala", "Sala"],
            "measure_id": ["A1", "A1"],
            "description": ["Ny belysning i Stadsparken", "Ny belysning i Stadsparken"],
            "category": ["lighting", "lighting"],
            "planned_start": pd.to_datetime(["2020-06-01", "2020-06-01"]),
            "followup_date": pd.to_datetime(["2021-04-01", "2022-04-01"]),
            "status": ["started", "done"],
        }
    )
    fig, _ = plot_action_timeline(
        actions, project_start="2020-04-01", municipality="Sala", lang="sv"
    )
    texts = _texts(fig)
    # The measure, not its code (wrapped to leave the time axis room).
    assert "Ny belysning i Stadsparken (belysning)" in {" ".join(t.split()) for t in texts}
    assert {"planerad start", "påbörjad", "genomförd"} <= texts
    assert not texts & {"planned start", "started", "done"}
    result = meta_analyse(np.log([0.8, 0.7, 0.9]), np.array([0.1, 0.15, 0.12]), ["a", "b", "c"])
    fig, _ = forest_plot(result, xlabel="Kvot", lang="sv")
    texts = _texts(fig)
    assert {"Fast effekt", "Prediktionsintervall"} <= texts
    assert not any("Fixed effect" in t or "Prediction" in t for t in texts)
    assert any(t.startswith("0,80 [") for t in texts)
    plt.close("all")


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
