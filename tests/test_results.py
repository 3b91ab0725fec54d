"""The Effect result object."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.results import EFFECT_COLUMNS, Effect, effects_frame


def _effect(**changes):
    values = dict(
        municipality="Sala",
        place_id="sala_torget",
        indicator="crimes_total",
        design="its",
        estimand="rate_ratio",
        estimate=0.8,
        ci_low=0.6,
        ci_high=1.05,
        p_value=0.1,
        n_pre=40,
        n_post=30,
        sms_level=2,
        method="test",
    )
    values.update(changes)
    return Effect(**values)


def test_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _effect().estimate = 1.0


def test_tidy_frame_has_the_effects_csv_columns():
    frame = effects_frame([_effect(), _effect(design="controlled", sms_level=3, notes=("a", "b"))])
    assert list(frame.columns) == EFFECT_COLUMNS
    assert frame.loc[1, "notes"] == "a | b"
    assert effects_frame([]).columns.tolist() == EFFECT_COLUMNS


def test_summary_returns_text_and_html_renders():
    effect = _effect()
    text = effect.summary()
    assert isinstance(text, str) and "0.800" in text and "SMS level 2" in text
    assert "<table" in effect._repr_html_()
    assert effect.percent_change == pytest.approx(-20)
    assert not effect.significant
