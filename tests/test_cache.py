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


def _one_more(data, place_id: str, indicator: str | None = None):
    series = data.series.copy()
    rows = series["place_id"] == place_id
    if indicator is not None:
        rows &= series["indicator"] == indicator
    row = series.index[rows][0]
    series.loc[row, "value"] = series.loc[row, "value"] + 1
    return _with_series(data, series)


def test_key_changes_with_any_control_area_of_the_study(demo_study, code):
    """The panel compares a municipality's targets with every control area of the study, also
    one that is neither in the donor pool nor among its places' own comparison areas."""
    outside = "sala_jamforelse_vaster"
    avesta = [p for p in demo_study.study.places if p.municipality == "Avesta"]
    assert all(outside not in (*p.controls, *p.buffer_controls) for p in avesta)
    study = demo_study.study.model_copy(
        update={"donor_pool": tuple(d for d in demo_study.study.donor_pool if d != outside)}
    )
    data = dataclasses.replace(demo_study, study=study)
    base = cache.municipality_key(data, "Avesta", {"lang": "sv"}, code)
    assert cache.municipality_key(_one_more(data, outside), "Avesta", {"lang": "sv"}, code) != base


def test_a_part_key_changes_with_its_own_indicators_rows_only(demo_study, code):
    from pipeline.evaluation.municipality import Part

    parts = [
        Part("target", "avesta_busstorget", "crimes_total"),
        Part("target", "avesta_busstorget", "crimes_theft"),
        Part("panel", indicator="crimes_total"),
        Part("panel", indicator="crimes_theft"),
        Part("survey"),
    ]

    def keys(data):
        made: dict = {}
        return [cache.part_key(data, "Avesta", p, {"lang": "sv"}, code, made) for p in parts]

    before = keys(demo_study)
    assert len(set(before)) == len(parts)
    assert keys(demo_study) == before
    # One row of a target's total crime: its total-crime parts and the survey's (which takes the
    # whole municipality's key) are computed again, the theft parts are not.
    after = keys(_one_more(demo_study, "avesta_busstorget", "crimes_total"))
    assert [a != b for a, b in zip(after, before, strict=True)] == [True, False, True, False, True]
    # A control area's theft row: the theft parts of every target and the panel.
    after = keys(_one_more(demo_study, "sala_jamforelse_vaster", "crimes_theft"))
    assert [a != b for a, b in zip(after, before, strict=True)] == [False, True, False, True, True]
    assert [
        cache.part_key(demo_study, "Avesta", p, {"lang": "sv"}, "other code") for p in parts
    ] != before
