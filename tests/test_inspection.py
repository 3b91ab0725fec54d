"""Tests of the safety-inspection reader, exact tests and chart."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.errors import EstimationError, ValidationError
from pipeline.inputs.inspections import read_inspections, score_band
from pipeline.methods import inspection as ins
from pipeline.report.figures_outcomes import plot_inspection

ASPECTS = [f"aspect {i}" for i in range(1, 10)]


def frame(before, after, place="Busstorget", dates=("2020-09-01", "2022-05-01")):
    rows = [(place, a, dates[0], b) for a, b in zip(ASPECTS, before, strict=True)]
    rows += [(place, a, dates[1], c) for a, c in zip(ASPECTS, after, strict=True)]
    data = pd.DataFrame(rows, columns=["place_id", "aspect", "date", "score"])
    data["date"] = pd.to_datetime(data["date"])
    return data


def write_csv(tmp_path, data: pd.DataFrame, name="inspections.csv", sep=";"):
    path = tmp_path / name
    out = data.copy()
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, sep=sep)
    return path


def brute_force_signed_rank_p(d):
    """Two-sided p of the signed-rank statistic by enumerating all sign flips (midranks, zeros dropped)."""
    d = np.asarray([x for x in d if x != 0], float)
    ranks = stats.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    centre = ranks.sum() / 2
    sums = [ranks[np.array(s) > 0].sum() for s in itertools.product((1, -1), repeat=len(d))]
    return np.mean(np.abs(np.array(sums) - centre) >= abs(observed - centre) - 1e-9)


# --------------------------------------------------------------------------
# bands
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "red"), (6, "red"), (7, "yellow"), (13, "yellow"), (14, "green"), (20, "green")],
)
def test_band_cutoffs(score, band):
    assert score_band(score) == band


def test_bands_are_configurable_and_checked():
    custom = (("low", 0, 9), ("high", 10, 20))
    assert score_band(9, bands=custom) == "low"
    assert score_band(10, bands=custom) == "high"
    with pytest.raises(ValueError, match="without gaps"):
        score_band(5, bands=(("a", 0, 5), ("b", 7, 20)))


# --------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------


def test_read_inspections_round_trip(tmp_path):
    data = frame([5, 8, 10, 3, 12, 6, 9, 14, 7], [9, 14, 10, 8, 13, 6, 12, 17, 7])
    path = write_csv(tmp_path, data)
    read = read_inspections(path, places=["Busstorget"])
    assert list(read.columns) == ["place_id", "aspect", "date", "score", "band"]
    assert len(read) == 18
    assert read["band"].iloc[0] == "red"
    assert read["date"].iloc[-1] == pd.Timestamp("2022-05-01")


def test_read_inspections_reports_file_row_and_column(tmp_path):
    data = frame([5] * 9, [9] * 9).astype({"score": object, "date": object})
    data.loc[1, "score"] = 21  # line 3
    data.loc[2, "score"] = "x"  # line 4
    data.loc[3, "date"] = "2020-9-1"  # line 5
    data.loc[4, "place_id"] = "Elsewhere"  # line 6
    data.loc[5, "score"] = "7,5"  # line 7: not a whole number
    path = tmp_path / "inspections.csv"
    out = data.copy()
    out["date"] = [d if isinstance(d, str) else d.strftime("%Y-%m-%d") for d in out["date"]]
    out.to_csv(path, index=False)
    with pytest.raises(ValidationError) as info:
        read_inspections(path, places=["Busstorget"])
    message = str(info.value)
    for row, column in [(3, "score"), (4, "score"), (5, "date"), (6, "place_id"), (7, "score")]:
        assert f"{path}, row {row}, column '{column}'" in message
    assert len(info.value.problems) == 5


def test_read_inspections_checks_completeness_and_pairing(tmp_path):
    data = frame([5] * 9, [9] * 9)
    # line 19 (the after inspection's last aspect) renamed: the after inspection
    # now lacks "aspect 9" and scores "aspect 10" that the before one lacks.
    data.loc[17, "aspect"] = "aspect 10"
    path = write_csv(tmp_path, data)
    with pytest.raises(ValidationError) as info:
        read_inspections(path)
    message = str(info.value)
    assert f"{path}, row 2, column 'aspect'" in message  # before inspection starts on line 2
    assert f"{path}, row 11, column 'aspect'" in message  # after inspection starts on line 11
    assert "cannot be paired" in message

    short = frame([5] * 9, [9] * 9).drop(index=[16, 17])
    path = write_csv(tmp_path, short, "short.csv")
    with pytest.raises(ValidationError, match="scores 7 aspects; the method scores 9"):
        read_inspections(path)


def test_read_inspections_duplicate_aspect(tmp_path):
    data = frame([5] * 9, [9] * 9)
    data = pd.concat([data, data.iloc[[0]]], ignore_index=True)  # line 20 repeats line 2
    path = write_csv(tmp_path, data)
    with pytest.raises(ValidationError) as info:
        read_inspections(path)
    assert f"{path}, row 20, column 'aspect'" in str(info.value)
    assert "first on line 2" in str(info.value)


# --------------------------------------------------------------------------
# change and exact tests
# --------------------------------------------------------------------------


def test_change_per_aspect_and_total():
    change = ins.inspection_change(
        frame([5, 8, 10, 3, 12, 6, 9, 14, 7], [9, 14, 10, 8, 13, 6, 12, 17, 7])
    )
    assert change.total_before == 74 and change.total_after == 96 and change.total_change == 22
    assert change.max_total == 180
    assert change.table["change"].tolist() == [4, 6, 0, 5, 1, 0, 3, 3, 0]
    assert (
        change.table.loc[1, "band_before"] == "yellow"
        and change.table.loc[1, "band_after"] == "green"
    )
    assert change.n_nonzero == 6
    assert change.min_p == pytest.approx(2 / 64)
    tidy = change.to_frame()
    assert tidy["aspect"].iloc[-1] == "total" and tidy["change"].iloc[-1] == 22


def test_all_nine_improve_gives_the_smallest_exact_p():
    change = ins.inspection_change(frame([5] * 9, [6, 7, 8, 9, 10, 11, 12, 13, 14]))
    # Only "all +" and "all -" of the 512 sign patterns are as extreme: p = 2/512.
    assert change.permutation_p_value == pytest.approx(2 / 512)
    assert change.wilcoxon_p_value == pytest.approx(2 / 512)
    assert change.wilcoxon_method == "exact"
    assert change.wilcoxon_p_value == pytest.approx(
        stats.wilcoxon(np.arange(1, 10), method="exact").pvalue
    )


def test_wilcoxon_with_ties_and_zeros_is_the_exact_sign_flip_distribution():
    before = [5, 8, 10, 3, 12, 6, 9, 14, 7]
    after = [9, 14, 10, 8, 11, 6, 12, 17, 7]  # changes 4, 6, 0, 5, -1, 0, 3, 3, 0: ties and zeros
    change = ins.inspection_change(frame(before, after))
    d = np.array(after) - np.array(before)
    assert "sign flips" in change.wilcoxon_method
    assert change.wilcoxon_p_value == pytest.approx(brute_force_signed_rank_p(d))


def test_sign_flip_matches_scipy_permutation_test():
    d = np.array([4, 6, 0, 5, -1, 0, 3, -3, 2], float)
    expected = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=np.inf, alternative="two-sided"
    ).pvalue
    assert ins.sign_flip_p_value(d) == pytest.approx(expected)
    # and by direct count over the 512 flips
    means = [np.mean(np.array(s) * d) for s in itertools.product((1, -1), repeat=9)]
    assert ins.sign_flip_p_value(d) == pytest.approx(
        np.mean(np.abs(means) >= abs(d.mean()) - 1e-12)
    )


def test_no_change_gives_p_one():
    change = ins.inspection_change(frame([7] * 9, [7] * 9))
    assert change.wilcoxon_p_value == 1.0 and change.permutation_p_value == 1.0
    assert np.isnan(change.wilcoxon_statistic)


def test_pratt_zero_method_is_available():
    change = ins.inspection_change(
        frame([5] * 9, [6, 7, 5, 5, 9, 10, 11, 12, 13]), zero_method="pratt"
    )
    assert change.zero_method == "pratt"
    assert 0 < change.wilcoxon_p_value <= 1


def test_one_inspection_is_an_estimation_error():
    data = frame([5] * 9, [9] * 9)
    data = data.loc[data["date"] == data["date"].min()]
    with pytest.raises(EstimationError, match="one inspection"):
        ins.inspection_change(data)


def test_inspection_changes_for_every_place():
    data = pd.concat([frame([5] * 9, [9] * 9), frame([10] * 9, [8] * 9, place="Torget")])
    out = ins.inspection_changes(data)
    assert list(out) == ["Busstorget", "Torget"]
    assert out["Torget"].total_change == -18


def test_chart_and_result_protocol():
    change = ins.inspection_change(
        frame([5, 8, 10, 3, 12, 6, 9, 14, 7], [9, 14, 10, 8, 13, 6, 12, 17, 7])
    )
    assert "Wilcoxon" in change.summary() and "<pre>" in change._repr_html_()
    fig, ax = plot_inspection(change)
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(ASPECTS)
    assert ax.get_xlim() == (-0.5, 20.5)
    plt.close(fig)


# --------------------------------------------------------------------------
# interval for the mean change: the sign-flip test inverted
# --------------------------------------------------------------------------

CHANGES = np.array([4, 6, 0, 5, -1, 0, 3, 3, 0], float)


def accepted_by_brute_force(d, level):
    """Smallest and largest shift the sign-flip test accepts, by testing every breakpoint.

    The p-value only changes at means of subsets of the changes, so testing at
    each of them and half-way between neighbours finds the accepted set.
    """
    means = {
        round(float(np.mean(d[list(subset)])), 12)
        for r in range(1, len(d) + 1)
        for subset in itertools.combinations(range(len(d)), r)
    }
    points = np.array(sorted(means))
    points = np.concatenate([points, (points[:-1] + points[1:]) / 2, points[[0, -1]] + [-1, 1]])
    accepted = [x for x in points if ins.sign_flip_p_value(d - x) > 1 - level]
    return min(accepted), max(accepted)


@pytest.mark.parametrize(
    "d",
    [CHANGES, np.array([1, 2, 3, 4, 5, 6, 7, 8, 9.0]), np.array([-2.5, 0.3, 1.7, 4.1, -0.6, 2.2])],
    ids=["scores-with-ties", "all-improve", "continuous"],
)
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_interval_is_the_set_the_test_accepts(d, level):
    assert ins.sign_flip_interval(d, level) == pytest.approx(accepted_by_brute_force(d, level))


def test_interval_contains_the_mean_and_agrees_with_the_test():
    low, high = ins.sign_flip_interval(CHANGES)
    assert low < CHANGES.mean() < high
    # The interval excludes no change exactly when the test rejects it.
    assert (ins.sign_flip_p_value(CHANGES) <= 0.05) == (not low <= 0 <= high)
    low, high = ins.sign_flip_interval(CHANGES - 1.5)
    assert ins.sign_flip_p_value(CHANGES - 1.5) > 0.05 and low <= 0 <= high


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95])
@pytest.mark.parametrize(
    "d",
    [CHANGES, np.random.default_rng(7).normal(1.0, 2.0, 9)],
    ids=["scores-with-ties", "continuous"],
)
def test_p_value_at_the_ends_is_about_one_minus_level(d, level):
    low, high = ins.sign_flip_interval(d, level)
    alpha = 1 - level
    for end, outward in ((low, -1e-6), (high, 1e-6)):
        at_end = ins.sign_flip_p_value(d - end)
        assert at_end > alpha  # accepted at the end ...
        assert ins.sign_flip_p_value(d - (end + outward)) <= alpha  # ... rejected beyond it
        if d is not CHANGES:
            # Continuous data have no two equal subset means: one split ends there, so p
            # steps by one pair of patterns and the end's p is the smallest attainable
            # p-value above 1 - level.
            assert at_end <= alpha + 2 / 2 ** len(d)


def test_interval_shrinks_with_less_spread():
    noise = np.array([1.3, -0.4, 2.2, -1.8, 0.7, -0.9, 1.1, -2.4, 0.2])
    widths = []
    for spread in (2.0, 1.0, 0.5):
        low, high = ins.sign_flip_interval(1.5 + spread * noise)
        assert low < 1.5 + spread * noise.mean() < high
        widths.append(high - low)
    # The interval moves and scales with the data: half the spread, half the width.
    assert widths[0] > widths[1] > widths[2]
    assert widths[1] == pytest.approx(widths[0] / 2) and widths[2] == pytest.approx(widths[0] / 4)
    assert ins.sign_flip_interval(np.full(9, 2.0)) == (2.0, 2.0)  # no spread: exactly known


def test_interval_is_wider_at_a_higher_level():
    intervals = [ins.sign_flip_interval(CHANGES, level) for level in (0.8, 0.9, 0.95, 0.99)]
    for (low, high), (wider_low, wider_high) in itertools.pairwise(intervals):
        assert wider_low <= low and high <= wider_high


def test_coverage_is_exact_over_all_sign_patterns():
    # Given the sizes of symmetric noise, every sign pattern is equally likely, so the
    # coverage is a count over the 512 patterns: 1 - 24/512 for continuous noise.
    size = np.array([0.3, 1.1, 2.4, 0.7, 1.9, 0.2, 3.1, 1.4, 0.9])
    covered = [
        low <= 1.5 <= high
        for signs in itertools.product((1, -1), repeat=9)
        for low, high in [ins.sign_flip_interval(1.5 + np.array(signs) * size)]
    ]
    assert np.mean(covered) == pytest.approx(1 - 24 / 512)
    assert np.mean(covered) >= 0.95


@pytest.mark.parametrize("noise", ["normal", "integer"])
def test_coverage_in_simulation_is_at_least_nominal(noise):
    rng = np.random.default_rng(20240901)
    n, level, shift = 500, 0.95, 2.0
    covered = 0
    for _ in range(n):
        if noise == "normal":
            changes = shift + rng.normal(0.0, 2.5, 9)
        else:  # score changes: integers, symmetric about the shift, with ties and zeros
            changes = shift + rng.integers(-4, 5, 9)
        low, high = ins.sign_flip_interval(changes, level)
        covered += low <= shift <= high
    # At least nominal up to simulation error (the exact guarantee is tested above).
    assert covered / n >= level - 2 * np.sqrt(level * (1 - level) / n)


def test_too_few_changes_give_every_shift():
    # With k changes the smallest p-value of any shift is 2 / 2^k: 0.0625 for k = 5.
    assert ins.sign_flip_interval([1, 2, 3, 4, 5], 0.95) == (-np.inf, np.inf)
    assert np.isfinite(ins.sign_flip_interval([1, 2, 3, 4, 5], 0.9)).all()
    assert np.isfinite(ins.sign_flip_interval([1, 2, 3, 4, 5, 6], 0.95)).all()
    assert ins.sign_flip_interval([3.0], 0.5) == (-np.inf, np.inf)


def test_interval_checks_its_arguments():
    with pytest.raises(ValueError, match="level"):
        ins.sign_flip_interval(CHANGES, 95)
    with pytest.raises(ValueError, match="no changes"):
        ins.sign_flip_interval([])
    with pytest.raises(ValueError, match="finite"):
        ins.sign_flip_interval([1.0, np.nan])
    with pytest.raises(ValueError, match="20 changes"):
        ins.sign_flip_interval(np.arange(21.0))


def test_inspection_change_carries_the_interval():
    before = [5, 8, 10, 3, 12, 6, 9, 14, 7]
    change = ins.inspection_change(frame(before, list(np.array(before) + CHANGES.astype(int))))
    assert (change.ci_low, change.ci_high) == ins.sign_flip_interval(CHANGES)
    assert change.level == 0.95
    assert change.ci_low < change.mean_change < change.ci_high
    assert "95% interval for the mean change per aspect" in change.summary()
    assert f"{change.ci_low:+.2f} to {change.ci_high:+.2f}" in change.summary()
    narrow = ins.inspection_change(frame(before, list(np.array(before) + 2)), level=0.8)
    assert narrow.level == 0.8 and narrow.ci_low == narrow.ci_high == 2.0


def test_inspection_of_few_aspects_gives_every_possible_change():
    data = frame([5] * 9, [9] * 9)
    data = data.loc[data["aspect"].isin(ASPECTS[:5])]
    change = ins.inspection_change(data)
    assert (change.ci_low, change.ci_high) == (-20, 20)
    assert "every possible change" in change.summary()
