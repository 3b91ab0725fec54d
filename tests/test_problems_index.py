"""The local problems index: its settings, each respondent's index, and the area-level design."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.errors import EstimationError, ValidationError
from pipeline.inputs.prepare import read_study
from pipeline.inputs.study import load_study
from pipeline.methods.survey_index import area_mean_difference_in_differences, respondent_index

BEFORE, AFTER = "2019-10-01", "2022-10-01"
DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"


def make_study(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """The demo study with text replacements in its study.yml, each found exactly once."""
    folder = tmp_path / "study"
    shutil.copytree(DEMO_DIR, folder)
    path = folder / "study.yml"
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return folder


def test_the_index_indicator_must_be_continuous(tmp_path):
    folder = make_study(
        tmp_path, ("    indicator: local_problems", "    indicator: unsafe_evening")
    )
    with pytest.raises(ValidationError, match="has family 'proportion', expected 'continuous'"):
        load_study(folder)


def test_the_index_questions_must_be_distinct_and_not_the_safety_question(tmp_path):
    folder = make_study(
        tmp_path,
        ("    - problem_klotter\n", "    - problem_nedskrapning\n"),
        ("    - problem_belysning\n", "    - otrygg_kvall\n"),
    )
    with pytest.raises(ValidationError) as caught:
        load_study(folder)
    messages = " | ".join(p.message for p in caught.value.problems)
    assert "'problem_nedskrapning' is listed twice" in messages
    assert "'otrygg_kvall' is the safety question" in messages


def test_an_index_question_without_answers_is_named(tmp_path):
    folder = make_study(tmp_path, ("    - problem_belysning\n", "    - problem_buller\n"))
    with pytest.raises(ValidationError, match="no answers to question 'problem_buller'"):
        read_study(folder)


def test_a_respondent_s_index_is_the_mean_of_the_questions_answered():
    rows = [
        ("r1", "q1", 1.0),
        ("r1", "q2", 3.0),
        ("r1", "q3", np.nan),  # don't know
        ("r2", "q1", 4.0),
        ("r2", "q2", np.nan),
        ("r2", "q3", np.nan),
        ("r3", "other", 2.0),
    ]
    frame = pd.DataFrame(
        [
            {
                "respondent_id": r,
                "municipality": "M",
                "place_id": "a",
                "wave": pd.Timestamp(BEFORE),
                "question": q,
                "answer": a,
                "weight": 2.0,
            }
            for r, q, a in rows
        ]
    )
    index = respondent_index(frame, ["q1", "q2", "q3"], min_answered=2)
    assert index["respondent_id"].tolist() == ["r1"]
    assert index["index"].tolist() == [2.0] and index["answered"].tolist() == [2]


def _equal_areas(means: dict[tuple[str, int], float], n: int = 40) -> pd.DataFrame:
    rows = []
    for (area, after), mean in means.items():
        for i in range(n):
            rows.append(
                {
                    "place_id": area,
                    "wave": pd.Timestamp(AFTER if after else BEFORE),
                    "weight": 1.0,
                    "index": mean + (0.5 if i % 2 else -0.5),
                }
            )
    return pd.DataFrame(rows)


def test_equal_areas_reduce_to_the_two_sample_t_test_on_the_areas_changes():
    before = {"t0": 2.4, "t1": 2.2, "t2": 2.6, "c0": 2.1, "c1": 2.3}
    after = {"t0": 2.1, "t1": 2.0, "t2": 2.4, "c0": 2.2, "c1": 2.2}
    means = {**{(a, 0): m for a, m in before.items()}, **{(a, 1): m for a, m in after.items()}}
    result = area_mean_difference_in_differences(
        _equal_areas(means),
        treated=["t0", "t1", "t2"],
        comparison=["c0", "c1"],
        before=BEFORE,
        after=AFTER,
    )
    d_t = [after[a] - before[a] for a in ("t0", "t1", "t2")]
    d_c = [after[a] - before[a] for a in ("c0", "c1")]
    test = stats.ttest_ind(d_t, d_c)
    estimate, low, high, p = result.values()
    assert estimate == pytest.approx(np.mean(d_t) - np.mean(d_c))
    assert p == pytest.approx(test.pvalue)
    assert result.df == 3
    assert result.arms.loc["target", "mean_before"] == pytest.approx(
        np.mean(list(before.values())[:3])
    )
    assert low < estimate < high


def test_one_area_per_arm_gives_no_interval_and_a_missing_area_is_an_error():
    means = {("t0", 0): 2.5, ("t0", 1): 2.0, ("c0", 0): 2.1, ("c0", 1): 2.2}
    result = area_mean_difference_in_differences(
        _equal_areas(means), treated="t0", comparison="c0", before=BEFORE, after=AFTER
    )
    assert result.estimate == pytest.approx(-0.6)
    assert np.isnan(result.ci_low) and "one target and one comparison area" in result.reason
    frame = _equal_areas(means)
    frame = frame[~((frame["place_id"] == "c0") & (frame["wave"] == pd.Timestamp(AFTER)))]
    with pytest.raises(EstimationError, match="c0 has no respondents with an index after"):
        area_mean_difference_in_differences(
            frame, treated="t0", comparison="c0", before=BEFORE, after=AFTER
        )


def test_areas_that_change_alike_give_no_interval_rather_than_a_zero_error():
    """Every area's change equals its arm's: the spread between areas is not measured, so the
    estimate has no interval (a zero standard error would claim certainty)."""
    before = {"t0": 2.4, "t1": 2.2, "c0": 2.1, "c1": 2.3}
    means = {**{(a, 0): m for a, m in before.items()}}
    means |= {(a, 1): m - (0.3 if a.startswith("t") else 0.0) for a, m in before.items()}
    result = area_mean_difference_in_differences(
        _equal_areas(means),
        treated=["t0", "t1"],
        comparison=["c0", "c1"],
        before=BEFORE,
        after=AFTER,
    )
    assert result.estimate == pytest.approx(-0.3)
    assert np.isnan(result.ci_low) and np.isnan(result.p_value)
    assert "every area changed by exactly as much as its arm" in result.reason
