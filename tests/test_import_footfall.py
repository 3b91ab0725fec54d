"""Footfall counter exports -> monthly series, days counted as exposure, gaps reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import ValidationError
from pipeline.importers.footfall import import_footfall
from pipeline.importers.record import RECORD_FILE, write_import
from pipeline.run.cli import main


def hourly_export(path: Path, start: str, end: str, *, drop=(), counter="Stationen-1", seed=1):
    """An hourly export as a counter vendor writes it: ';', Windows-1252, hours HH:00."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(start, end, freq="h", inclusive="left")
    # Local time: the hour that does not exist when clocks go forward is not in the file.
    hours = hours[
        ~((hours.month == 3) & (hours.day_of_week == 6) & (hours.day >= 25) & (hours.hour == 2))
    ]
    counts = rng.poisson(40, len(hours))
    lines = ["counter;time;count"]
    for when, count in zip(hours, counts, strict=True):
        if when.strftime("%Y-%m-%d %H") in drop or when.strftime("%Y-%m-%d") in drop:
            continue
        lines.append(f"{counter};{when:%Y-%m-%d %H:%M};{count}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path, pd.Series(counts, index=hours)


def import_footfall_command(study: Path, counts: Path, *options: str) -> int:
    """``trygga import-footfall`` of indicator ``footfall`` as a user types it; its exit code."""
    return main(
        [
            "import-footfall",
            "--study",
            str(study),
            "--counts",
            str(counts),
            "--indicator",
            "footfall",
            *options,
        ]
    )


def test_hourly_counts_become_monthly_series_with_days_counted(
    import_study: Path, tmp_path: Path
) -> None:
    # A gap: 10-12 March missing entirely, and 20 March lacks one hour.
    drop = {"2021-03-10", "2021-03-11", "2021-03-12", "2021-03-20 17"}
    path, truth = hourly_export(tmp_path / "rakning.csv", "2021-02-01", "2021-05-01", drop=drop)
    code = import_footfall_command(import_study, path, "--counter", "Stationen-1=sala_stationen")
    assert code == 0
    series = pd.read_csv(import_study / "series.csv")
    assert list(series["period"]) == ["2021-02", "2021-03", "2021-04"]
    assert list(series["exposure"]) == [28, 31 - 4, 30]
    days = truth.index.normalize()
    kept = ~days.isin(pd.to_datetime(["2021-03-10", "2021-03-11", "2021-03-12", "2021-03-20"]))
    expected = truth[kept].groupby(truth.index[kept].to_period("M")).sum()
    assert list(series["value"]) == list(expected)
    notes = json.loads((import_study / RECORD_FILE).read_text())["imports"][0]["notes"]
    assert any("3 days not counted (2021-03-10 to 2021-03-12)" in n for n in notes)
    assert any("1 day not counted (2021-03-20)" in n for n in notes)


def test_the_day_clocks_go_forward_is_complete_with_23_hours(
    import_study: Path, tmp_path: Path
) -> None:
    path, _ = hourly_export(
        tmp_path / "c.csv", "2021-03-01", "2021-04-01", counter="sala_stationen"
    )
    result = import_footfall(import_study, path, indicator="footfall")
    assert not any("not counted" in n for n in result.notes)
    write_import(import_study, result)
    assert pd.read_csv(import_study / "series.csv")["exposure"].tolist() == [31]


def test_daily_counts_with_a_blank_day_and_two_counters(import_study: Path, tmp_path: Path) -> None:
    path = tmp_path / "daily.csv"
    rows = ["counter,time,count"]
    for day in pd.date_range("2021-01-01", "2021-02-28"):
        blank = day == pd.Timestamp("2021-01-15")
        rows.append(f"north,{day:%Y-%m-%d},{'' if blank else 100}")
        rows.append(f"south,{day:%Y-%m-%d},50")
    path.write_text("\n".join(rows) + "\n")
    result = import_footfall(
        import_study,
        path,
        indicator="footfall",
        counters=[("north", "sala_vaster"), ("south", "sala_vaster")],
    )
    write_import(import_study, result)
    series = pd.read_csv(import_study / "series.csv")
    # 15 January: one counter has no count, so the place's day is left out for both.
    assert series["exposure"].tolist() == [30, 28]
    assert series["value"].tolist() == [30 * 150, 28 * 150]
    assert any("1 day not counted (2021-01-15)" in n for n in result.notes)


def test_a_month_without_counts_is_an_error_and_nothing_is_written(
    import_study: Path, tmp_path: Path, capsys
) -> None:
    drop = {f"2021-03-{d:02d}" for d in range(1, 32)}
    path, _ = hourly_export(
        tmp_path / "c.csv", "2021-02-01", "2021-05-01", drop=drop, counter="sala_stationen"
    )
    code = import_footfall_command(import_study, path)
    assert code == 2
    assert "no counted day in 2021-03" in capsys.readouterr().err
    assert sorted(p.name for p in import_study.iterdir()) == ["study.yml"]


def test_bad_rows_are_named(import_study: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "counter;time;count\n"
        "sala_stationen;2021-01-01;10\n"
        "sala_stationen;01/02/2021;10\n"
        "sala_stationen;2021-01-03;-4\n"
        "sala_stationen;2021-01-04;1,5\n"
        "sala_stationen;2021-01-01;12\n"
    )
    with pytest.raises(ValidationError) as caught:
        import_footfall(import_study, path, indicator="footfall")
    found = {(p.row, p.column) for p in caught.value.problems}
    assert {(3, "time"), (4, "count"), (5, "count")} <= found
    path.write_text(
        "counter;time;count\nsala_stationen;2021-01-01;10\nsala_stationen;2021-01-01;12\n"
    )
    with pytest.raises(ValidationError, match="duplicate of row 2"):
        import_footfall(import_study, path, indicator="footfall")


def test_an_unknown_counter_or_indicator(import_study: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("counter;time;count\nRäknare 7;2021-01-01;10\n", encoding="cp1252")
    with pytest.raises(ValidationError) as caught:
        import_footfall(import_study, path, indicator="crimes_totalt")
    text = str(caught.value)
    assert "counter 'Räknare 7' is not a place" in text
    assert "no indicator 'crimes_totalt'" in text
    with pytest.raises(ValidationError, match="family proportion"):
        import_footfall(
            import_study, path, indicator="unsafe_evening", counters=[("Räknare 7", "sala")]
        )


def test_the_hour_that_comes_twice_when_clocks_go_back(import_study: Path, tmp_path: Path) -> None:
    path = tmp_path / "oktober.csv"
    rows = ["counter;time;count"]
    for day in pd.date_range("2021-10-01", "2021-10-31"):
        for hour in range(24):
            rows.append(f"sala_stationen;{day:%Y-%m-%d} {hour:02d}:00;10")
            if day == pd.Timestamp("2021-10-31") and hour == 2:
                rows.append(f"sala_stationen;{day:%Y-%m-%d} {hour:02d}:00;7")
    path.write_text("\n".join(rows) + "\n")
    result = import_footfall(import_study, path, indicator="footfall")
    write_import(import_study, result)
    series = pd.read_csv(import_study / "series.csv")
    assert series[["value", "exposure"]].values.tolist() == [[31 * 24 * 10 + 7, 31]]
    # Any other repeated hour is still a duplicate.
    path.write_text("\n".join([*rows, "sala_stationen;2021-10-30 02:00;3"]) + "\n")
    with pytest.raises(ValidationError, match="duplicate of row"):
        import_footfall(import_study, path, indicator="footfall")
