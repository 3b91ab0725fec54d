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

from pipeline import inspection as ins
from pipeline.errors import EstimationError, ValidationError

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
    assert ins.score_band(score) == band


def test_bands_are_configurable_and_checked():
    custom = (("low", 0, 9), ("high", 10, 20))
    assert ins.score_band(9, bands=custom) == "low"
    assert ins.score_band(10, bands=custom) == "high"
    with pytest.raises(ValueError, match="without gaps"):
        ins.score_band(5, bands=(("a", 0, 5), ("b", 7, 20)))


# --------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------


def test_read_inspections_round_trip(tmp_path):
    data = frame([5, 8, 10, 3, 12, 6, 9, 14, 7], [9, 14, 10, 8, 13, 6, 12, 17, 7])
    path = write_csv(tmp_path, data)
    read = ins.read_inspections(path, places=["Busstorget"])
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
        ins.read_inspections(path, places=["Busstorget"])
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
        ins.read_inspections(path)
    message = str(info.value)
    assert f"{path}, row 2, column 'aspect'" in message  # before inspection starts on line 2
    assert f"{path}, row 11, column 'aspect'" in message  # after inspection starts on line 11
    assert "cannot be paired" in message

    short = frame([5] * 9, [9] * 9).drop(index=[16, 17])
    path = write_csv(tmp_path, short, "short.csv")
    with pytest.raises(ValidationError, match="scores 7 aspects; the method scores 9"):
        ins.read_inspections(path)


def test_read_inspections_duplicate_aspect(tmp_path):
    data = frame([5] * 9, [9] * 9)
    data = pd.concat([data, data.iloc[[0]]], ignore_index=True)  # line 20 repeats line 2
    path = write_csv(tmp_path, data)
    with pytest.raises(ValidationError) as info:
        ins.read_inspections(path)
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
    assert change.permutation_p == pytest.approx(2 / 512)
    assert change.wilcoxon_p == pytest.approx(2 / 512)
    assert change.wilcoxon_method == "exact"
    assert change.wilcoxon_p == pytest.approx(
        stats.wilcoxon(np.arange(1, 10), method="exact").pvalue
    )


def test_wilcoxon_with_ties_and_zeros_is_the_exact_sign_flip_distribution():
    before = [5, 8, 10, 3, 12, 6, 9, 14, 7]
    after = [9, 14, 10, 8, 11, 6, 12, 17, 7]  # changes 4, 6, 0, 5, -1, 0, 3, 3, 0: ties and zeros
    change = ins.inspection_change(frame(before, after))
    d = np.array(after) - np.array(before)
    assert "sign flips" in change.wilcoxon_method
    assert change.wilcoxon_p == pytest.approx(brute_force_signed_rank_p(d))


def test_sign_flip_matches_scipy_permutation_test():
    d = np.array([4, 6, 0, 5, -1, 0, 3, -3, 2], float)
    expected = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=np.inf, alternative="two-sided"
    ).pvalue
    assert ins.sign_flip_pvalue(d) == pytest.approx(expected)
    # and by direct count over the 512 flips
    means = [np.mean(np.array(s) * d) for s in itertools.product((1, -1), repeat=9)]
    assert ins.sign_flip_pvalue(d) == pytest.approx(np.mean(np.abs(means) >= abs(d.mean()) - 1e-12))


def test_no_change_gives_p_one():
    change = ins.inspection_change(frame([7] * 9, [7] * 9))
    assert change.wilcoxon_p == 1.0 and change.permutation_p == 1.0
    assert np.isnan(change.wilcoxon_statistic)


def test_pratt_zero_method_is_available():
    change = ins.inspection_change(
        frame([5] * 9, [6, 7, 5, 5, 9, 10, 11, 12, 13]), zero_method="pratt"
    )
    assert change.zero_method == "pratt"
    assert 0 < change.wilcoxon_p <= 1


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
    fig, ax = ins.plot_inspection(change)
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(ASPECTS)
    assert ax.get_xlim() == (-0.5, 20.5)
    plt.close(fig)
