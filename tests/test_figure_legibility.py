"""Report figures stay legible on a 400 px phone screen.

A page shows a figure at its drawn width (96 CSS px per inch) or at the width
of the text column, whichever is smaller; its text shrinks with it. Here each
figure a report draws is drawn from the demo study's own inputs (its long
measure descriptions and aspect names included), under the reports' style, and
its smallest text is computed at the width a 400 px screen shows it:
:func:`pipeline.report.style.shown_text_px`. The browser tests measure the same
on the rendered pages, with the width Chromium actually gives each image.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from pipeline.report.style import (
    FIGURE_WIDTH_IN,
    MIN_TEXT_PX,
    PHONE_COLUMN_PX,
    RC_PARAMS,
    shown_text_px,
    smallest_text_pt,
)
from tests.conftest import DEMO_DIR
from tests.test_plots import _effect


def test_text_shrinks_with_the_figure_to_the_column():
    # 10 pt is 13.3 px at the drawn size; a 5-inch figure (480 px) in a 382 px column: 10.6 px.
    assert shown_text_px(10, 5.0, 382) == pytest.approx(10 / 72 * 96 * 382 / 480)
    assert shown_text_px(10, 5.0, 382) == pytest.approx(10.61, abs=0.01)
    # The report's figures before: 8 inches wide with 8.3 pt text read 5.5 px on a phone.
    assert shown_text_px(25 / 3, 8.0, 382) < 6
    # A figure narrower than the column is shown at its own size: text as drawn.
    assert shown_text_px(9, 3.0, 382) == pytest.approx(12.0)


def test_smallest_text_is_found_in_ticks_legends_and_titles():
    with plt.rc_context(RC_PARAMS):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1], [0, 1], label="line")
        ax.legend(fontsize=6.5)
        ax.set_title("title", fontsize=14)
        fig.canvas.draw()
    assert smallest_text_pt(fig) == 6.5
    ax.get_legend().remove()
    ax.tick_params(labelsize=7.25)
    fig.canvas.draw()
    assert smallest_text_pt(fig) == 7.25
    plt.close(fig)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from pipeline.inputs.prepare import prepare_study

    return prepare_study(DEMO_DIR, tmp_path_factory.mktemp("legibility"))


def _report_figures(data, lang):
    """Every kind of figure the reports draw, from the demo's inputs, as ``(name, fig)``."""
    from pipeline.methods.implementation import ImplementationVsEffect, implementation_shares
    from pipeline.methods.inspection import inspection_change
    from pipeline.report.figures import (
        plot_cumulative_difference,
        plot_effect,
        plot_effect_and_cumulative,
        plot_effect_over_time,
    )
    from pipeline.report.figures_outcomes import (
        plot_action_timeline,
        plot_implementation_shares,
        plot_implementation_vs_effect,
        plot_inspection,
        plot_shares,
    )
    from pipeline.report.sections import survey_shares

    start = pd.Period("2020-07", freq="M")
    effect = _effect()
    settings = data.study.action_plan
    shares = implementation_shares(
        data.actions,
        project_start=settings.project_start,
        horizons_months=settings.horizons_months,
    ).table
    last = shares[shares["horizon_months"] == shares["horizon_months"].max()]
    last = last[last["municipality"].isin(data.study.municipality_names)]
    paired = ImplementationVsEffect(
        table=last.assign(estimate=[-3.0, 1.5, -6.0, 0.5][: len(last)], ci_low=-9.0, ci_high=4.0),
        text="",
        horizon_months=24,
        effect_label="procentenheter",
        null=0.0,
    )
    place = data.inspections["place_id"].iloc[0]
    title = "Ett långt platsnamn i en kommun – Anmälda brott, totalt"
    drawings = {
        "effect": lambda: plot_effect(effect=effect, start=start, title=title, lang=lang),
        "cumulative": lambda: plot_cumulative_difference(effect=effect, start=start, lang=lang),
        "effect_and_cumulative": lambda: plot_effect_and_cumulative(
            effect=effect, start=start, shocks=data.study.shocks, title=title, lang=lang
        ),
        "over_time": lambda: plot_effect_over_time(effect=effect, start=start, lang=lang),
        "shares": lambda: plot_shares(survey_shares(data, "Sala", lang), lang=lang),
        "inspection": lambda: plot_inspection(
            inspection_change(data.inspections, place_id=place), title=place, lang=lang
        ),
        "timeline": lambda: plot_action_timeline(
            data.actions,
            project_start=settings.project_start,
            horizons_months=settings.horizons_months,
            municipality="Sala",
            lang=lang,
        ),
        "implementation_shares": lambda: plot_implementation_shares(
            last, labels=[str(m) for m in last["municipality"]], lang=lang
        ),
        "implementation_vs_effect": lambda: plot_implementation_vs_effect(paired, lang=lang),
    }
    for name, draw in drawings.items():
        with plt.rc_context(RC_PARAMS):
            fig, _ = draw()
            fig.canvas.draw()
        yield name, fig


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_report_figure_reads_at_least_9_px_on_a_400_px_screen(demo_data, lang):
    checked = []
    for name, fig in _report_figures(demo_data, lang):
        width_in = fig.get_size_inches()[0]
        smallest = smallest_text_pt(fig)
        plt.close(fig)
        assert np.isfinite(smallest), name
        assert width_in == FIGURE_WIDTH_IN, name
        px = shown_text_px(smallest, width_in, PHONE_COLUMN_PX)
        assert px >= MIN_TEXT_PX, f"{name}: smallest text {smallest} pt reads {px:.1f} px"
        checked.append(name)
    assert len(checked) == 9
