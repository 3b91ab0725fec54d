"""Rerun keys: a municipality's key changes with its own slice of the study, not with another's."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.run import cache


@pytest.fixture(scope="module")
def code() -> str:
    return cache.code_digest()


def _with_series(data, series):
    return dataclasses.replace(data, series=series)


def test_key_is_stable_for_the_same_inputs(demo_study, code):
    first = cache.municipality_key(demo_study, "Sala", {"lang": "sv"}, code)
    assert first == cache.municipality_key(demo_study, "Sala", {"lang": "sv"}, code)
    assert len(first) == 64


def test_key_changes_with_the_municipalitys_rows_only(demo_study, code):
    keys = {
        m: cache.municipality_key(demo_study, m, {"lang": "sv"}, code) for m in ("Sala", "Avesta")
    }
    series = demo_study.series.copy()
    row = series.index[series["place_id"] == "sala_stationen"][0]
    series.loc[row, "value"] = series.loc[row, "value"] + 1
    edited = _with_series(demo_study, series)
    assert cache.municipality_key(edited, "Sala", {"lang": "sv"}, code) != keys["Sala"]
    assert cache.municipality_key(edited, "Avesta", {"lang": "sv"}, code) == keys["Avesta"]


def test_key_changes_with_a_shared_donor_parameters_and_code(demo_study, code):
    base = cache.municipality_key(demo_study, "Avesta", {"lang": "sv"}, code)
    donor = demo_study.study.donor_pool[-1]
    series = demo_study.series.copy()
    row = series.index[series["place_id"] == donor][0]
    series.loc[row, "value"] = series.loc[row, "value"] + 1
    assert (
        cache.municipality_key(_with_series(demo_study, series), "Avesta", {"lang": "sv"}, code)
        != base
    )
    assert cache.municipality_key(demo_study, "Avesta", {"lang": "en"}, code) != base
    assert cache.municipality_key(demo_study, "Avesta", {"lang": "sv"}, "other code") != base


def test_key_changes_with_study_wide_settings(demo_study, code):
    base = cache.municipality_key(demo_study, "Avesta", {"lang": "sv"}, code)
    study = demo_study.study.model_copy(update={"title": "Another title"})
    assert (
        cache.municipality_key(
            dataclasses.replace(demo_study, study=study), "Avesta", {"lang": "sv"}, code
        )
        != base
    )


def test_stored_key_round_trip(tmp_path):
    assert cache.stored_key(tmp_path) is None
    cache.store_key(tmp_path, "abc")
    assert cache.stored_key(tmp_path) == "abc"
