"""Tests of the Brå "Databasfil" reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import ValidationError
from pipeline.inputs.bra import (
    monthly_series,
    population_from_rates,
    read_bra_export,
    read_bra_folder,
)
from tests.conftest import only_problem

HEADER = "Region;Brott;År;Period;Antal;/100 000 inv"


def write(
    path: Path,
    rows: list[str],
    header: str = HEADER,
    encoding: str = "latin-1",
    newline: str = "\n",
) -> Path:
    """Write a file the way Brå does: header, rows, a blank last line."""
    path.write_bytes((newline.join([header, *rows, ""])).encode(encoding))
    return path


# --------------------------------------------------------------------------- one file


def test_reads_every_quirk(tmp_path):
    path = write(
        tmp_path / "DatabasfilJan2016.txt",
        [
            "Avesta kommun;Totalt antal brott;2016 prel.;Jan;180;780;",
            "Avesta kommun;Våldsbrott ;2016 prel.;Jan;..;..;",
            "Malung-Sälen kommun;Skadegörelsebrott (inkl. mordbrand);2015;Maj;7;70;",
            "Upplands Väsby kommun;Stöldbrott;2013;Okt;95;219;",
        ],
    )
    df = read_bra_export(path)
    assert list(df.columns) == [
        "municipality",
        "category",
        "period",
        "count",
        "rate_per_100k",
        "preliminary",
    ]
    assert df["municipality"].tolist() == ["Avesta", "Avesta", "Malung-Sälen", "Upplands Väsby"]
    assert df["category"].tolist() == [
        "Totalt antal brott",
        "Våldsbrott",
        "Skadegörelsebrott (inkl. mordbrand)",
        "Stöldbrott",
    ]
    assert isinstance(df["period"].dtype, pd.PeriodDtype)
    assert df["period"].tolist() == [
        pd.Period("2016-01", "M"),
        pd.Period("2016-01", "M"),
        pd.Period("2015-05", "M"),
        pd.Period("2013-10", "M"),
    ]
    assert str(df["count"].dtype) == "Int64"
    assert df["count"].iloc[0] == 180
    # '..' is missing, never zero.
    assert df["count"].isna().tolist() == [False, True, False, False]
    assert np.isnan(df["rate_per_100k"].iloc[1])
    assert df["rate_per_100k"].iloc[3] == 219.0
    assert df["preliminary"].tolist() == [True, True, False, False]


def test_every_swedish_month(tmp_path):
    months = "Jan Feb Mar Apr Maj Jun Jul Aug Sep Okt Nov Dec".split()
    path = write(tmp_path / "f.txt", [f"Sala kommun;Bilbrott;2014;{m};1;4;" for m in months])
    df = read_bra_export(path)
    assert df["period"].dt.month.tolist() == list(range(1, 13))


def test_rows_without_trailing_separator_crlf_and_utf8(tmp_path):
    rows = ["Falun kommun;Våldsbrott;2014;Dec;30;52", "Falun kommun;Stöldbrott;2014;Dec;120;210;"]
    crlf = read_bra_export(write(tmp_path / "crlf.txt", rows, newline="\r\n"))
    utf8 = read_bra_export(write(tmp_path / "utf8.txt", rows, encoding="utf-8"))
    for df in (crlf, utf8):
        assert df["category"].tolist() == ["Våldsbrott", "Stöldbrott"]
        assert df["count"].tolist() == [30, 120]


def test_blank_lines_are_skipped_and_line_numbers_stay_right(tmp_path):
    path = write(
        tmp_path / "f.txt",
        ["Sala kommun;Bilbrott;2014;Jan;1;4;", "", "Sala kommun;Bilbrott;2014;Feb;x;4;"],
    )
    with pytest.raises(ValidationError) as err:
        read_bra_export(path)
    assert only_problem(err).row == 4


def test_latin1_control_byte_does_not_shift_lines(tmp_path):
    # Latin-1 0x85 decodes to U+0085, which str.splitlines treats as a break.
    path = tmp_path / "f.txt"
    path.write_bytes(
        (
            HEADER
            + "\nSala kommun;Bil\x85brott;2014;Jan;1;4;\nSala kommun;Bilbrott;2014;Foo;1;4;\n"
        ).encode("latin-1")
    )
    with pytest.raises(ValidationError) as err:
        read_bra_export(path)
    assert only_problem(err).row == 3


def test_header_only_gives_an_empty_frame(tmp_path):
    df = read_bra_export(write(tmp_path / "f.txt", []))
    assert df.empty
    assert list(df.columns)[:3] == ["municipality", "category", "period"]


# --------------------------------------------------------------------------- errors


def test_wrong_header(tmp_path):
    path = write(
        tmp_path / "f.txt",
        ["Sala kommun;Bilbrott;2014;Jan;1;4;"],
        header="Region;Brott;År;Månad;Antal;/100 000 inv",
    )
    with pytest.raises(ValidationError) as err:
        read_bra_export(path)
    problem = only_problem(err)
    assert problem.row == 1
    assert problem.file == str(path)
    assert "header" in problem.message


def test_empty_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"")
    with pytest.raises(ValidationError) as err:
        read_bra_export(path)
    assert only_problem(err).row == 1


@pytest.mark.parametrize(
    "row",
    [
        "Sala kommun;Bilbrott;2014;Jan;1",  # one field short (5)
        "Sala kommun;Bilbrott;2014;Jan;1;4;5;",  # one too many (8)
        "Sala kommun;Bilbrott;2014;Jan;1;4;x",  # 7 fields with a non-empty last one
    ],
)
def test_wrong_field_count(tmp_path, row):
    path = write(tmp_path / "f.txt", ["Sala kommun;Bilbrott;2014;Feb;1;4;", row])
    with pytest.raises(ValidationError) as err:
        read_bra_export(path)
    problem = only_problem(err)
    assert problem.row == 3
    assert "fields" in problem.message


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        ("Sala;Bilbrott;2014;Jan;1;4;", "Region", "Sala"),
        ("Västmanlands län;Bilbrott;2014;Jan;1;4;", "Region", "Västmanlands län"),
        ("Sala kommun; ;2014;Jan;1;4;", "Brott", " "),
        ("Sala kommun;Bilbrott;14;Jan;1;4;", "År", "14"),
        ("Sala kommun;Bilbrott;2014 final;Jan;1;4;", "År", "2014 final"),
        ("Sala kommun;Bilbrott;2014;May;1;4;", "Period", "May"),
        ("Sala kommun;Bilbrott;2014;13;1;4;", "Period", "13"),
        ("Sala kommun;Bilbrott;2014;Jan;1.5;4;", "Antal", "1.5"),
        ("Sala kommun;Bilbrott;2014;Jan;-3;4;", "Antal", "-3"),
        ("Sala kommun;Bilbrott;2014;Jan;;4;", "Antal", ""),
        ("Sala kommun;Bilbrott;2014;Jan;1;4 st;", "/100 000 inv", "4 st"),
        ("Sala kommun;Bilbrott;2014;Jan;1;.;", "/100 000 inv", "."),
    ],
)
def test_bad_cell_names_file_line_and_column(tmp_path, row, column, value):
    path = write(tmp_path / "f.txt", ["Sala kommun;Bilbrott;2014;Feb;1;4;", row])
    with pytest.raises(ValidationError) as err:
        read_bra_export(path)
    problem = only_problem(err)
    assert (problem.file, problem.row, problem.column) == (str(path), 3, column)
    if value.strip():
        assert f"'{value}'" in problem.message


def test_every_bad_cell_is_listed(tmp_path):
    path = write(
        tmp_path / "f.txt",
        ["Sala kommun;Bilbrott;2014;Foo;1;4;", "Sala kommun;Bilbrott;2014;Jan;x;4;"],
    )
    with pytest.raises(ValidationError) as err:
        read_bra_export(path)
    assert [(p.row, p.column) for p in err.value.problems] == [(2, "Period"), (3, "Antal")]
    assert "f.txt, row 2, column 'Period'" in str(err.value)


def test_decimal_comma_and_spaces_in_numbers(tmp_path):
    df = read_bra_export(
        write(tmp_path / "f.txt", ["Stockholm kommun;Totalt antal brott;2014;Jan;12 345;1 452,5;"])
    )
    assert df["count"].iloc[0] == 12345
    assert df["rate_per_100k"].iloc[0] == 1452.5


# --------------------------------------------------------------------------- repeats in one file


def test_empty_repeated_block_is_dropped(tmp_path):
    # Brå lists Heby twice in every 2013-2016 file; the second block is all zeros.
    rows = [
        "Heby kommun;Totalt antal brott;2013;Jan;92;686;",
        "Heby kommun;Vapenbrott;2013;Jan;3;22;",
        "Heby kommun;Totalt antal brott;2013;Jan;0;0;",
        "Heby kommun;Vapenbrott;2013;Jan;0;0;",
        "Hedemora kommun;Totalt antal brott;2013;Jan;96;638;",
    ]
    df = read_bra_export(write(tmp_path / "f.txt", rows))
    assert df["municipality"].tolist() == ["Heby", "Heby", "Hedemora"]
    assert df["count"].tolist() == [92, 3, 96]


def test_identical_repeat_is_kept_once(tmp_path):
    rows = ["Sala kommun;Bilbrott;2014;Jan;5;22;", "Sala kommun;Bilbrott;2014;Jan;5;22;"]
    assert len(read_bra_export(write(tmp_path / "f.txt", rows))) == 1


def test_conflicting_repeat_is_an_error(tmp_path):
    rows = [
        "Sala kommun;Bilbrott;2014;Jan;5;22;",
        "Sala kommun;Stöldbrott;2014;Jan;9;40;",
        "Sala kommun;Bilbrott;2014;Jan;6;26;",
        "Sala kommun;Stöldbrott;2014;Jan;9;40;",
    ]
    with pytest.raises(ValidationError) as err:
        read_bra_export(write(tmp_path / "f.txt", rows))
    problem = only_problem(err)
    assert problem.row == 4
    assert "Bilbrott" in problem.message


# --------------------------------------------------------------------------- folders


def test_folder_concatenates_and_sorts(tmp_path):
    write(
        tmp_path / "DatabasfilFeb2014.txt",
        ["Sala kommun;Bilbrott;2014;Feb;2;9;", "Avesta kommun;Bilbrott;2014;Feb;3;13;"],
    )
    write(tmp_path / "DatabasfilJan2014.txt", ["Sala kommun;Bilbrott;2014;Jan;1;4;"])
    write(tmp_path / "notes.txt", ["not;a;brå;file"])
    df = read_bra_folder(tmp_path)
    assert list(zip(df["municipality"], df["period"].astype(str), strict=True)) == [
        ("Avesta", "2014-02"),
        ("Sala", "2014-01"),
        ("Sala", "2014-02"),
    ]
    assert df.index.tolist() == [0, 1, 2]


def test_folder_without_files(tmp_path):
    with pytest.raises(ValidationError) as err:
        read_bra_folder(tmp_path)
    assert "Databasfil*.txt" in only_problem(err).message


def test_folder_identical_duplicates_are_merged(tmp_path):
    write(tmp_path / "DatabasfilA.txt", ["Sala kommun;Bilbrott;2014;Jan;..;..;"])
    write(tmp_path / "DatabasfilB.txt", ["Sala kommun;Bilbrott;2014;Jan;..;..;"])
    df = read_bra_folder(tmp_path)
    assert len(df) == 1
    assert df["count"].isna().all()


def test_folder_final_figure_replaces_preliminary(tmp_path):
    write(tmp_path / "DatabasfilA.txt", ["Sala kommun;Bilbrott;2016 prel.;Jan;7;31;"])
    write(tmp_path / "DatabasfilB.txt", ["Sala kommun;Bilbrott;2016;Jan;8;35;"])
    df = read_bra_folder(tmp_path)
    assert len(df) == 1
    assert df["count"].iloc[0] == 8
    assert not df["preliminary"].iloc[0]


@pytest.mark.parametrize("year", ["2016", "2016 prel."])
def test_folder_conflicting_duplicates_name_both_files(tmp_path, year):
    a = write(
        tmp_path / "DatabasfilA.txt",
        ["Sala kommun;Bilbrott;2014;Feb;1;4;", f"Sala kommun;Bilbrott;{year};Jan;7;31;"],
    )
    b = write(tmp_path / "DatabasfilB.txt", [f"Sala kommun;Bilbrott;{year};Jan;9;40;"])
    with pytest.raises(ValidationError) as err:
        read_bra_folder(tmp_path)
    problem = only_problem(err)
    assert (problem.file, problem.row, problem.column) == (str(b), 2, "Antal")
    assert str(a) in problem.message and "line 3" in problem.message


def test_folder_reports_a_bad_file(tmp_path):
    write(tmp_path / "DatabasfilA.txt", ["Sala kommun;Bilbrott;2014;Feb;1;4;"])
    bad = write(tmp_path / "DatabasfilB.txt", ["Sala kommun;Bilbrott;2014;Feb;1;4;"], header="x;y")
    with pytest.raises(ValidationError) as err:
        read_bra_folder(tmp_path)
    assert only_problem(err).file == str(bad)


# --------------------------------------------------------------------------- population


def test_population_from_rates(tmp_path):
    rows = [
        "Sala kommun;Totalt antal brott;2014;Jan;220;1000;",  # 22 000
        "Sala kommun;Totalt antal brott;2014;Feb;221;1000;",  # 22 100
        "Sala kommun;Totalt antal brott;2014;Mar;0;0;",  # no information
        "Sala kommun;Totalt antal brott;2014;Apr;..;..;",  # no information
        "Sala kommun;Totalt antal brott;2014;Maj;219;1000;",  # 21 900
        "Sala kommun;Bilbrott;2014;Jan;1;3;",  # another category: ignored by default
        "Sala kommun;Totalt antal brott;2015;Jan;230;1000;",
    ]
    df = read_bra_export(write(tmp_path / "f.txt", rows))
    pop = population_from_rates(df)
    assert pop["year"].tolist() == [2014, 2015]
    assert pop["population"].tolist() == [22000, 23000]
    assert pop["n_months"].tolist() == [3, 1]


def test_monthly_series_leaves_out_a_municipality_with_a_missing_month(tmp_path):
    rows = [
        "Sala kommun;Totalt antal brott;2014;Jan;220;1000;",
        "Sala kommun;Totalt antal brott;2014;Feb;221;1000;",
        "Sala kommun;Bilbrott;2014;Jan;1;3;",  # another category
        "Avesta kommun;Totalt antal brott;2014;Jan;..;..;",  # suppressed: left out
        "Avesta kommun;Totalt antal brott;2014;Feb;90;400;",
        "Falun kommun;Totalt antal brott;2014;Jan;500;900;",
        "Falun kommun;Totalt antal brott;2014;Feb;510;910;",
    ]
    series = monthly_series(read_bra_export(write(tmp_path / "f.txt", rows)))
    assert list(series) == ["Falun", "Sala"]
    sala = series["Sala"]
    assert list(sala.index) == [pd.Period("2014-01", "M"), pd.Period("2014-02", "M")]
    assert sala["value"].tolist() == [220.0, 221.0]
    assert sala["exposure"].tolist() == [1.0, 1.0]
    assert monthly_series(read_bra_export(write(tmp_path / "f.txt", rows)), "Bilbrott")["Sala"][
        "value"
    ].tolist() == [1.0]


# --------------------------------------------------------------------------- reference data


@pytest.mark.reference
def test_reference_files(reference_dir):
    folder = reference_dir / "bra_monthly_2013_2016"
    df = read_bra_folder(folder)  # its speed is measured by benchmarks/validate.py, not here
    assert df["municipality"].nunique() == 290
    assert df["category"].nunique() == 10
    assert df["period"].nunique() == 48
    assert df["period"].min() == pd.Period("2013-01", "M")
    assert df["period"].max() == pd.Period("2016-12", "M")
    assert len(df) == 290 * 10 * 48
    assert not df.duplicated(["municipality", "category", "period"]).any()
    assert df["count"].notna().all()
    assert (df["preliminary"] == (df["period"].dt.year == 2016)).all()
    assert "Våldsbrott" in set(df["category"])

    total = df[df["category"] == "Totalt antal brott"]
    stats = total.groupby("municipality")["count"].agg(["mean", "min", "max"])
    # DOMAIN.md: mean (range) of reported crimes per month, 2013-2016.
    expected = {
        "Avesta": (188, 112, 295),
        "Falun": (392, 307, 674),
        "Hallstahammar": (131, 73, 200),
        "Sala": (215, 151, 333),
    }
    for name, (mean, low, high) in expected.items():
        # Falun's mean is 391.48; DOMAIN.md rounds it to 392.
        assert stats.loc[name, "mean"] == pytest.approx(mean, abs=0.6)
        assert (stats.loc[name, "min"], stats.loc[name, "max"]) == (low, high)
    # Heby's empty second block is gone: every month has its real figure.
    assert (total.loc[total["municipality"] == "Heby", "count"] > 0).all()

    pop = population_from_rates(df).set_index(["municipality", "year"])["population"]
    # DOMAIN.md: Avesta 23 113 and Hallstahammar 16 393 in mid-2020; 2016 a little lower.
    assert 21_000 < pop.loc[("Avesta", 2016)] < 23_500
    assert 15_000 < pop.loc[("Hallstahammar", 2016)] < 16_500
