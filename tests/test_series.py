"""Tests of the series file contract (``series.csv``) and ``read_series``.

Broken files are written to a temporary folder from the demo study's series
with small edits; they are checked against the demo study, which is only read.
Rows are line numbers as an editor shows them (the header is row 1). The file
is read by the rule of every study CSV (``pipeline.inputs.tables``, tested in
``test_tables.py``); the tests here check that series.csv follows it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import Problem, ValidationError
from pipeline.inputs.series import read_series
from pipeline.inputs.study import SERIES_FILE, Study, load_study
from tests.conftest import assert_located, only_problem

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"
HEADER = "place_id,indicator,period,value,exposure"


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study(DEMO_DIR)


@pytest.fixture(scope="module")
def demo_lines() -> tuple[str, ...]:
    """The demo series.csv as lines without line ends; index 0 is the header (row 1)."""
    return tuple((DEMO_DIR / SERIES_FILE).read_text(encoding="utf-8").splitlines())


class Series:
    """An editable copy of the demo series, addressed by the rows an editor shows."""

    def __init__(self, lines: tuple[str, ...], folder: Path):
        self.lines = list(lines)
        self.path = folder / SERIES_FILE

    def row(self, place: str, indicator: str, period: str) -> int:
        """The row (1-based line number) of one observation."""
        prefix = f"{place},{indicator},{period},"
        return next(i + 1 for i, line in enumerate(self.lines) if line.startswith(prefix))

    def set(self, row: int, **fields: str) -> Series:
        """Replace fields of one row; values are written as they are (quote them yourself)."""
        names = HEADER.split(",")
        cells = self.lines[row - 1].split(",")
        for name, value in fields.items():
            cells[names.index(name)] = value
        self.lines[row - 1] = ",".join(cells)
        return self

    def drop(self, keep) -> Series:
        """Keep the header and the data lines for which ``keep(cells)`` is true."""
        self.lines = [self.lines[0]] + [x for x in self.lines[1:] if keep(x.split(","))]
        return self

    def write(self, encoding: str = "utf-8", newline: str = "\n") -> Path:
        self.path.write_bytes((newline.join(self.lines) + newline).encode(encoding))
        return self.path


@pytest.fixture
def series(demo_lines: tuple[str, ...], tmp_path: Path) -> Series:
    return Series(demo_lines, tmp_path)


def read_fails(path: Path, study: Study) -> pytest.ExceptionInfo[ValidationError]:
    with pytest.raises(ValidationError) as err:
        read_series(path, study)
    return err


def single(
    series: Series, study: Study, row: int | None, column: str | None, *fragments: str
) -> Problem:
    """Write the series, expect exactly one problem at row/column whose message holds fragments."""
    path = series.write()
    err = read_fails(path, study)
    problem = only_problem(err)
    assert_located(err, problem, path, row, column)
    for fragment in fragments:
        assert fragment in problem.message
    return problem


def expect(series: Series, study: Study, expected: dict[int, tuple[str, str]]) -> None:
    """Write the series and expect exactly one problem per row: {row: (column, message part)}.

    Several rows of one file carry independent mistakes, so one read checks each case
    and also that problems in one file are all reported together.
    """
    path = series.write()
    err = read_fails(path, study)
    found = {p.row: p for p in err.value.problems}
    assert len(found) == len(err.value.problems), [str(p) for p in err.value.problems]
    assert sorted(found) == sorted(expected), [str(p) for p in err.value.problems]
    for row, (column, fragment) in expected.items():
        problem = found[row]
        assert_located(err, problem, path, row, column)
        assert fragment in problem.message


# --------------------------------------------------------------------------- the demo passes


@pytest.fixture(scope="module")
def demo_frame(study: Study) -> pd.DataFrame:
    return read_series(DEMO_DIR / SERIES_FILE, study)


def test_demo_series_passes(demo_frame: pd.DataFrame, study: Study) -> None:
    # Footfall, the share of women and vacant premises are checked in test_designs_proportion.
    programme = demo_frame["indicator"].isin(["footfall", "women_share", "vacant_premises"])
    assert len(demo_frame) == 12432 + programme.sum()
    frame = demo_frame[~programme].reset_index(drop=True)
    assert list(frame.columns) == ["place_id", "indicator", "period", "value", "exposure"]
    assert frame["period"].dtype == pd.PeriodDtype("M")
    assert frame["period"].min() == pd.Period("2017-01", "M")
    assert frame["period"].max() == pd.Period("2023-12", "M")
    assert frame["period"].nunique() == 84
    assert set(frame["place_id"]) == {p.id for p in study.places}
    # Indicators measured by the survey or the inspections have no monthly series.
    elsewhere = {s.indicator for s in (study.survey, study.inspections) if s is not None}
    elsewhere.add(study.survey.problems_index.indicator)
    assert set(demo_frame["indicator"]) == {i.id for i in study.indicators} - elsewhere
    assert (frame.groupby(["place_id", "indicator"]).size() == 84).all()
    assert frame["value"].dtype == float
    assert (frame["value"] >= 0).all()
    assert (frame["value"] % 1 == 0).all()
    # Exposure is the number of days in the month.
    assert (frame["exposure"] == frame["period"].dt.days_in_month).all()
    ordered = frame.sort_values(["place_id", "indicator", "period"], ignore_index=True)
    pd.testing.assert_frame_equal(frame, ordered)


def test_demo_values_match_the_file(demo_frame: pd.DataFrame, demo_lines: tuple[str, ...]) -> None:
    frame = demo_frame.set_index(["place_id", "indicator", "period"])
    for line in (demo_lines[1], demo_lines[2000], demo_lines[-1]):
        place, indicator, period, value, exposure = line.split(",")
        row = frame.loc[(place, indicator, pd.Period(period, "M"))]
        assert row["value"] == float(value)
        assert row["exposure"] == float(exposure)


def test_harmless_variants_pass(series: Series, study: Study, demo_frame: pd.DataFrame) -> None:
    # Windows line ends, a byte-order mark, spaces around cells, blank lines inside and at
    # the end, a str path: none of these changes what is read.
    series.lines = [line.replace(",", " , ") for line in series.lines]
    series.lines.insert(100, "")
    series.lines += ["", ""]
    path = series.write(encoding="utf-8-sig", newline="\r\n")
    pd.testing.assert_frame_equal(read_series(str(path), study), demo_frame)


def test_exposure_column_is_optional(
    series: Series, study: Study, demo_frame: pd.DataFrame
) -> None:
    # A proportion needs the number it is a share of: a file without exposure has counts only.
    shares = ("women_share", "vacant_premises")
    series.lines = [
        line.rsplit(",", 1)[0] for line in series.lines if line.split(",")[1] not in shares
    ]
    counts = demo_frame[~demo_frame["indicator"].isin(shares)].reset_index(drop=True)
    expected = counts.assign(exposure=float("nan"))
    pd.testing.assert_frame_equal(read_series(series.write(), study), expected)


def test_rows_are_counted_past_blank_lines(series: Series, study: Study) -> None:
    series.lines.insert(10, "")
    series.lines.insert(20, " ")
    series.lines.insert(30, ",,,,")
    row = series.row("avesta_busstorget", "crimes_total", "2019-12")
    assert row == 37 + 3  # line 37 in the demo file, three inserted lines above it
    series.set(row, indicator="crimes_totl")
    single(series, study, row, "indicator", "unknown indicator 'crimes_totl'")


def test_whole_numbers_in_other_notations_pass(series: Series, study: Study) -> None:
    written = {
        "2022-07": "12.0",
        "2022-08": "1e1",
        "2022-09": "+7",
        "2022-10": " 7 ",
        "2022-11": "1 200",  # digits grouped in threes, as Swedish Excel writes them
    }
    for period, value in written.items():
        series.set(series.row("avesta_gallerian", "crimes_violence", period), value=value)
    frame = read_series(series.write(), study)
    selected = frame[
        (frame["place_id"] == "avesta_gallerian")
        & (frame["indicator"] == "crimes_violence")
        & frame["period"].astype(str).isin(written)
    ]
    assert selected["value"].tolist() == [12.0, 10.0, 7.0, 7.0, 1200.0]


# --------------------------------------------------------------------------- bad cells


def test_unknown_place(series: Series, study: Study) -> None:
    row = series.row("falun_resecentrum", "crimes_theft", "2019-06")
    series.set(row, place_id="falun_resecentrun")
    single(series, study, row, "place_id", "unknown place 'falun_resecentrun'", "study.yml")


def test_empty_place(series: Series, study: Study) -> None:
    row = series.row("falun_resecentrum", "crimes_theft", "2019-06")
    series.set(row, place_id="")
    single(series, study, row, "place_id", "empty place_id")


def test_unknown_indicator(series: Series, study: Study) -> None:
    expected = {}
    for period, indicator in [
        ("2020-02", "crimes_totl"),
        ("2020-03", "Crimes_total"),
        ("2020-04", ""),
    ]:
        row = series.row("sala_torget", "crimes_violence", period)
        series.set(row, indicator=indicator)
        expected[row] = ("indicator", f"unknown indicator '{indicator}' (not in study.yml)")
    expect(series, study, expected)


@pytest.mark.parametrize("period", ["2021-13", "2021/03", "mars 2021"])
def test_unparseable_period(series: Series, study: Study, period: str) -> None:
    row = series.row("hallstahammar_kolback", "crimes_vandalism", "2021-03")
    series.set(row, period=period)
    single(series, study, row, "period", f"cannot read period '{period}'", "YYYY-MM")


def test_other_unparseable_periods(series: Series, study: Study) -> None:
    written = ["2021-00", "2021-3", "21-03", "2021-03-01", "202103", "03-2021", ""]
    expected = {}
    for month, period in enumerate(written, start=1):
        row = series.row("hallstahammar_kolback", "crimes_vandalism", f"2019-{month:02d}")
        series.set(row, period=period)
        expected[row] = ("period", f"cannot read period '{period}'")
    expect(series, study, expected)


def test_duplicate_row_names_the_first_row(series: Series, study: Study) -> None:
    first = series.row("sala_stadsparken", "crimes_total", "2019-04")
    series.lines.append(series.lines[first - 1])
    last = len(series.lines)
    single(
        series,
        study,
        last,
        "period",
        f"duplicate of row {first}",
        "sala_stadsparken, crimes_total, 2019-04",
    )


def test_duplicate_with_other_values_is_still_a_duplicate(series: Series, study: Study) -> None:
    first = series.row("sala_stadsparken", "crimes_total", "2019-04")
    second = series.row("sala_stadsparken", "crimes_total", "2019-05")
    series.set(second, period="2019-04", value="99")
    # The edit also leaves 2019-05 missing, but the duplicate stops the check before gaps.
    single(series, study, second, "period", f"duplicate of row {first}")


def test_each_extra_copy_is_reported(series: Series, study: Study) -> None:
    first = series.row("avesta_krylbo", "crimes_theft", "2023-12")
    series.lines += [series.lines[first - 1]] * 2
    n = len(series.lines)
    expect(
        series,
        study,
        {
            n - 1: ("period", f"duplicate of row {first}"),
            n: ("period", f"duplicate of row {first}"),
        },
    )


def test_negative_count(series: Series, study: Study) -> None:
    row = series.row("avesta_gallerian", "crimes_violence", "2022-07")
    series.set(row, value="-3")
    single(series, study, row, "value", "negative value -3")


def test_negative_fraction_breaks_two_rules(series: Series, study: Study) -> None:
    row = series.row("avesta_gallerian", "crimes_violence", "2022-07")
    series.set(row, value="-0.5")
    path = series.write()
    err = read_fails(path, study)
    assert [p.message for p in err.value.problems] == [
        "negative value -0.5",
        "count -0.5 is not a whole number",
    ]
    for problem in err.value.problems:
        assert_located(err, problem, path, row, "value")


def test_non_integer_count(series: Series, study: Study) -> None:
    expected = {}
    for period, value in [("2022-07", "12.5"), ("2022-08", "0.1"), ("2022-09", "1e-1")]:
        row = series.row("avesta_gallerian", "crimes_violence", period)
        series.set(row, value=value)
        expected[row] = ("value", f"count {value} is not a whole number")
    expect(series, study, expected)


def test_decimal_comma_in_a_comma_separated_file(series: Series, study: Study) -> None:
    # Quoted, "12,5" is one cell, but in a comma-separated file it could as well be an
    # English 125 with a thousands separator: refused, with the way out.
    value = series.row("sala_stationen_buffert", "crimes_total", "2018-11")
    exposure = series.row("sala_stationen_buffert", "crimes_total", "2018-12")
    series.set(value, value='"12,5"')
    series.set(exposure, exposure='"30,5"')
    expect(
        series,
        study,
        {
            value: ("value", "'12,5' is not a number (in a comma-separated file a comma"),
            exposure: ("exposure", "'30,5' is not a number (in a comma-separated file a comma"),
        },
    )
    assert "save the file with ';' as the separator" in str(read_fails(series.path, study).value)


def semicolon_separated(series: Series, row: int, value: str) -> Series:
    """Separate the series by ';' and write `value` into the value cell of `row`."""
    series.lines = [x.replace(",", ";") for x in series.lines]
    cells = series.lines[row - 1].split(";")
    cells[HEADER.split(",").index("value")] = value
    series.lines[row - 1] = ";".join(cells)
    return series


def test_decimal_comma_in_a_semicolon_separated_file(series: Series, study: Study) -> None:
    # Accepted as a number, so the count rule is what it breaks.
    row = series.row("sala_stationen_buffert", "crimes_total", "2018-11")
    semicolon_separated(series, row, "12,5")
    single(series, study, row, "value", "count 12,5 is not a whole number")


def test_thousands_separators_are_refused(series: Series, study: Study) -> None:
    row = series.row("sala_stationen_buffert", "crimes_total", "2018-11")
    semicolon_separated(series, row, "1.234,5")
    single(series, study, row, "value", "'1.234,5' is not a number", "thousands separators")


def test_non_numeric_value(series: Series, study: Study) -> None:
    written = ["tolv", "12a", "NA", "n/a", "-", "1 20", "12,5,0", "0x10", "inf", "1_000"]
    expected = {}
    for month, value in enumerate(written, start=1):
        row = series.row("falun_jamforelse_norr", "crimes_total", f"2020-{month:02d}")
        series.set(row, value=f'"{value}"' if "," in value else value)
        expected[row] = ("value", f"'{value}' is not a number")
    expect(series, study, expected)


def test_non_numeric_exposure(series: Series, study: Study) -> None:
    row = series.row("falun_jamforelse_norr", "crimes_total", "2020-01")
    series.set(row, exposure="trettio")
    single(series, study, row, "exposure", "'trettio' is not a number")


def test_missing_value(series: Series, study: Study) -> None:
    expected = {}
    for month, value in enumerate(["", "  ", '""'], start=1):
        row = series.row("falun_jamforelse_norr", "crimes_total", f"2020-{month:02d}")
        series.set(row, value=value)
        expected[row] = ("value", "missing value")
    # A row cut short has no value either.
    short = series.row("falun_jamforelse_norr", "crimes_total", "2020-04")
    series.lines[short - 1] = "falun_jamforelse_norr,crimes_total,2020-04"
    expected[short] = ("value", "missing value")
    expect(series, study, expected)


def test_non_positive_exposure(series: Series, study: Study) -> None:
    expected = {}
    for month, exposure in enumerate(["0", "-31", "0.0"], start=2):
        row = series.row("hallstahammar_centrum", "crimes_theft", f"2017-{month:02d}")
        series.set(row, exposure=exposure)
        expected[row] = ("exposure", f"exposure must be positive, got {exposure}")
    expect(series, study, expected)


# --------------------------------------------------------------------------- the header


@pytest.mark.parametrize("column", ["place_id", "indicator", "period", "value"])
def test_missing_required_column(series: Series, study: Study, column: str) -> None:
    index = HEADER.split(",").index(column)
    series.lines = [
        ",".join(c for i, c in enumerate(x.split(",")) if i != index) for x in series.lines
    ]
    single(series, study, 1, column, f"required column '{column}' is missing")


def test_unknown_column(series: Series, study: Study) -> None:
    series.lines = [series.lines[0] + ",kommentar"] + [x + "," for x in series.lines[1:]]
    single(series, study, 1, "kommentar", "unknown column")


def test_misspelt_column_is_missing_and_unknown(series: Series, study: Study) -> None:
    series.lines[0] = series.lines[0].replace("indicator", "indikator")
    path = series.write()
    err = read_fails(path, study)
    located = sorted((p.row, p.column) for p in err.value.problems)
    assert located == [(1, "indicator"), (1, "indikator")]
    messages = {p.column: p.message for p in err.value.problems}
    assert messages["indicator"].startswith("required column 'indicator' is missing")
    assert "the header has: place_id, indikator, period" in messages["indicator"]
    assert messages["indikator"].startswith("unknown column: did you mean 'indicator'?")
    for problem in err.value.problems:
        assert_located(err, problem, path, 1, problem.column)


def with_fractional_exposure(series: Series) -> Series:
    """Give every exposure a fractional part, so that decimal marks matter."""
    series.lines = [series.lines[0]] + [
        x.rsplit(",", 1)[0] + "," + x.rsplit(",", 1)[1] + ".25" for x in series.lines[1:]
    ]
    return series


def test_swedish_excel_export_reads_the_same(series: Series, study: Study, tmp_path: Path) -> None:
    # What Swedish Excel writes: ';' between cells, decimal commas, Windows-1252, CRLF.
    with_fractional_exposure(series)
    expected = read_series(series.write(), study)
    assert (expected["exposure"] % 1 == 0.25).all()
    swedish = Series(tuple(x.replace(",", ";").replace(".", ",") for x in series.lines), tmp_path)
    swedish.path = tmp_path / "swedish.csv"
    pd.testing.assert_frame_equal(
        read_series(swedish.write(encoding="cp1252", newline="\r\n"), study), expected
    )


@pytest.mark.parametrize(
    ("separator", "encoding"),
    [("\t", "utf-16"), (";", "utf-8-sig"), ("\t", "utf-8")],
    ids=["unicode-text", "semicolon-utf8-bom", "tab-utf8"],
)
def test_other_separators_and_encodings_read_the_same(
    series: Series, study: Study, tmp_path: Path, separator: str, encoding: str
) -> None:
    with_fractional_exposure(series)
    expected = read_series(series.write(), study)
    series.lines = [x.replace(",", separator) for x in series.lines]
    series.path = tmp_path / "other.csv"
    pd.testing.assert_frame_equal(read_series(series.write(encoding=encoding), study), expected)


def test_windows_1252_file_is_read(series: Series, study: Study) -> None:
    # The place is unknown, but its name is read as written, not garbled.
    row = series.row("sala_torget", "crimes_total", "2019-01")
    series.set(row, place_id="malå_torget")
    single(series, study, row, "place_id", "unknown place 'malå_torget'")
    series.write(encoding="cp1252")
    problem = only_problem(read_fails(series.path, study))
    assert problem.message == "unknown place 'malå_torget' (not in study.yml)"


def test_header_without_a_known_separator(series: Series, study: Study) -> None:
    series.lines = [x.replace(",", "|") for x in series.lines]
    problem = single(series, study, 1, None, "cannot tell the separator")
    assert "';', tab or ','" in problem.message


def test_header_with_two_separators_equally_often(series: Series, study: Study) -> None:
    series.lines[0] = "place_id;indicator,period;value,exposure"
    single(series, study, 1, None, "cannot tell the separator", "';' and ','")


def test_empty_file(tmp_path: Path, study: Study) -> None:
    path = tmp_path / SERIES_FILE
    path.write_bytes(b"")
    err = read_fails(path, study)
    assert_located(err, only_problem(err), path, 1, None)


def test_missing_file(tmp_path: Path, study: Study) -> None:
    path = tmp_path / SERIES_FILE
    err = read_fails(path, study)
    problem = only_problem(err)
    assert_located(err, problem, path, None, None)
    assert "not found" in problem.message


def test_row_with_too_many_fields(series: Series, study: Study) -> None:
    row = series.row("sala_torget", "crimes_total", "2019-01")
    series.lines[row - 1] += ",9"
    path = series.write()
    err = read_fails(path, study)
    problem = only_problem(err)
    assert_located(err, problem, path, row, None)
    assert problem.message.startswith("has 6 fields but the header has 5")
    # In a comma-separated file the likely cause is an unquoted decimal comma.
    assert "decimal comma" in problem.message


# --------------------------------------------------------------------------- the shape of each series


def test_gap_names_the_missing_period(series: Series, study: Study) -> None:
    series.drop(lambda c: c[:3] != ["falun_resecentrum", "crimes_theft", "2019-06"])
    resumes = series.row("falun_resecentrum", "crimes_theft", "2019-07")
    path = series.write()
    err = read_fails(path, study)
    problem = only_problem(err)
    # The missing period has no line of its own: the error points where the series resumes.
    assert_located(err, problem, path, resumes, "period")
    assert "gap in the series of falun_resecentrum / crimes_theft" in problem.message
    assert "no row for 2019-06" in problem.message


def test_several_gaps_in_one_series(series: Series, study: Study) -> None:
    missing = {f"2018-{m:02d}" for m in range(1, 10)}
    series.drop(
        lambda c: not (c[0] == "sala_stationen" and c[1] == "crimes_total" and c[2] in missing)
    )
    path = series.write()
    problem = only_problem(read_fails(path, study))
    # The first six missing periods are named, then an ellipsis.
    assert "2018-01, 2018-02, 2018-03, 2018-04, 2018-05, 2018-06 ..." in problem.message
    assert "2018-07" not in problem.message


def test_exposure_for_only_some_periods(series: Series, study: Study) -> None:
    first = series.row("avesta_krylbo", "crimes_vandalism", "2020-05")
    later = series.row("avesta_krylbo", "crimes_vandalism", "2021-09")
    series.set(first, exposure="").set(later, exposure="")
    single(
        series,
        study,
        first,
        "exposure",
        "exposure is given for some but not all periods of avesta_krylbo / crimes_vandalism",
    )


def test_exposure_missing_for_a_whole_series_passes(series: Series, study: Study) -> None:
    series.lines = [
        x.rsplit(",", 1)[0] + "," if x.startswith("avesta_krylbo,crimes_vandalism,") else x
        for x in series.lines
    ]
    frame = read_series(series.write(), study)
    krylbo = (frame["place_id"] == "avesta_krylbo") & (frame["indicator"] == "crimes_vandalism")
    assert frame.loc[krylbo, "exposure"].isna().all()
    assert frame.loc[~krylbo, "exposure"].notna().all()


@pytest.mark.parametrize(
    ("place", "keep", "span"),
    [
        # sala_torget starts 2022-01: the series ends before it.
        ("sala_torget", lambda p: p <= "2021-12", "2017-01 to 2021-12"),
        # sala_stationen starts 2020-08: the series starts with it, so nothing is before.
        ("sala_stationen", lambda p: p >= "2020-08", "2020-08 to 2023-12"),
    ],
    ids=["ends-before-start", "starts-at-start"],
)
def test_target_series_must_bracket_its_start(
    series: Series, study: Study, place: str, keep, span: str
) -> None:
    series.drop(lambda c: not (c[0] == place and c[1] == "crimes_total") or keep(c[2]))
    first_row = series.row(place, "crimes_total", span.split(" to ")[0])
    path = series.write()
    err = read_fails(path, study)
    problem = only_problem(err)
    # Points at the series' first row, where its span begins.
    assert_located(err, problem, path, first_row, "period")
    start = study.place(place).intervention_start
    assert f"the series of {place} / crimes_total ({span})" in problem.message
    assert f"intervention start {start:%Y-%m}" in problem.message


def test_one_period_on_each_side_is_enough(series: Series, study: Study) -> None:
    # sala_torget starts 2022-01: keep 2021-12 and 2022-01 only.
    series.drop(
        lambda c: (
            not (c[0] == "sala_torget" and c[1] == "crimes_total") or c[2] in {"2021-12", "2022-01"}
        )
    )
    frame = read_series(series.write(), study)
    torget = frame[(frame["place_id"] == "sala_torget") & (frame["indicator"] == "crimes_total")]
    assert torget["period"].astype(str).tolist() == ["2021-12", "2022-01"]


def test_control_without_rows_for_an_indicator(series: Series, study: Study) -> None:
    series.drop(lambda c: c[:2] != ["avesta_krylbo", "crimes_theft"])
    path = series.write()
    err = read_fails(path, study)
    # Both Avesta targets are compared with Krylbo.
    assert len(err.value.problems) == 2
    for problem, target in zip(
        err.value.problems, ["avesta_busstorget", "avesta_gallerian"], strict=True
    ):
        assert_located(err, problem, path, None, "place_id")
        assert (
            f"target '{target}' is compared with 'avesta_krylbo', which has no rows for indicator "
            "'crimes_theft'"
        ) in problem.message


def test_buffer_without_rows_for_an_indicator(series: Series, study: Study) -> None:
    series.drop(lambda c: c[:2] != ["sala_stationen_buffert", "crimes_violence"])
    path = series.write()
    problem = only_problem(read_fails(path, study))
    assert problem.column == "place_id"
    assert "'sala_stationen' is compared with 'sala_stationen_buffert'" in problem.message
    assert "'crimes_violence'" in problem.message


def test_target_without_rows(series: Series, study: Study) -> None:
    series.drop(lambda c: c[0] != "hallstahammar_centrum")
    path = series.write()
    err = read_fails(path, study)
    problem = only_problem(err)
    assert_located(err, problem, path, None, "place_id")
    assert "target 'hallstahammar_centrum' has no rows" in problem.message


# --------------------------------------------------------------------------- several problems at once


def test_all_cell_problems_are_reported_together(series: Series, study: Study) -> None:
    rows = {
        "place": series.row("avesta_busstorget", "crimes_total", "2017-03"),
        "period": series.row("falun_knutpunkten", "crimes_violence", "2018-04"),
        "negative": series.row("sala_torget", "crimes_theft", "2019-05"),
        "comma": series.row("sala_stadsparken", "crimes_vandalism", "2020-06"),
        "missing": series.row("hallstahammar_kolback", "crimes_total", "2021-07"),
        "exposure": series.row("avesta_krylbo", "crimes_total", "2022-08"),
    }
    series.set(rows["place"], place_id="avesta_bustorget")
    series.set(rows["period"], period="2018/04")
    series.set(rows["negative"], value="-1")
    series.set(rows["comma"], value='"2,5"')
    series.set(rows["missing"], value="")
    series.set(rows["exposure"], exposure="0")
    series.lines.append(series.lines[rows["negative"] - 1])
    duplicate = len(series.lines)
    path = series.write()
    err = read_fails(path, study)
    located = sorted((p.row, p.column) for p in err.value.problems)
    assert located == sorted(
        [
            (rows["place"], "place_id"),
            (rows["period"], "period"),
            (rows["negative"], "value"),
            (rows["comma"], "value"),
            (rows["missing"], "value"),
            (rows["exposure"], "exposure"),
            (duplicate, "value"),
            (duplicate, "period"),
        ]
    )
    assert str(err.value).startswith("8 problems in the input:")
    for problem in err.value.problems:
        assert problem.file == str(path)
        assert str(problem) in str(err.value)


def test_all_shape_problems_are_reported_together(series: Series, study: Study) -> None:
    series.drop(
        lambda c: (
            c[:3] != ["falun_holmtorget", "crimes_theft", "2020-02"]
            and c[:2] != ["avesta_krylbo", "crimes_vandalism"]
            and not (c[:2] == ["sala_torget", "crimes_total"] and c[2] >= "2022-01")
        )
    )
    partial = series.row("falun_jamforelse_soder", "crimes_total", "2019-03")
    series.set(partial, exposure="")
    path = series.write()
    err = read_fails(path, study)
    messages = [p.message for p in err.value.problems]
    assert len(messages) == 5, messages
    assert any("gap in the series of falun_holmtorget / crimes_theft" in m for m in messages)
    assert any("falun_jamforelse_soder / crimes_total" in m for m in messages)
    assert any("the series of sala_torget / crimes_total" in m for m in messages)
    assert sum("'avesta_krylbo', which has no rows" in m for m in messages) == 2
    exposure = next(p for p in err.value.problems if p.column == "exposure")
    assert exposure.row == partial


def test_long_lists_are_shortened_in_the_message(series: Series, study: Study) -> None:
    rows = [series.row("sala_torget", "crimes_theft", f"2019-{m:02d}") for m in range(1, 13)]
    rows += [series.row("sala_torget", "crimes_theft", f"2020-{m:02d}") for m in range(1, 13)]
    rows += [series.row("sala_torget", "crimes_theft", f"2021-{m:02d}") for m in range(1, 7)]
    for row in rows:
        series.set(row, value="x")
    err = read_fails(series.write(), study)
    assert [p.row for p in err.value.problems] == rows
    message = str(err.value)
    assert message.startswith("30 problems in the input:")
    assert "... and 5 more problems" in message
    assert f"row {rows[24]}," in message
    assert f"row {rows[25]}," not in message


def test_demo_file_untouched(series: Series, study: Study) -> None:
    before = (DEMO_DIR / SERIES_FILE).read_bytes()
    series.set(2, value="-1").write()
    with pytest.raises(ValidationError):
        read_series(series.path, study)
    assert (DEMO_DIR / SERIES_FILE).read_bytes() == before
