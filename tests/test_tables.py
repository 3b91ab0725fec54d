"""Tests of the rule every study CSV is read by (``pipeline.inputs.tables``)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import InputWarning, Problem, ValidationError
from pipeline.format import summary_html
from pipeline.inputs import tables as tb

REQUIRED = ("place_id", "period", "value")


def write(tmp_path, text: str, encoding: str = "utf-8", name: str = "table.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read(path, **kwargs) -> tb.Table:
    kwargs.setdefault("required", REQUIRED)
    return tb.read_table(path, **kwargs)


def fails(path, **kwargs) -> list[Problem]:
    with pytest.raises(ValidationError) as info:
        read(path, **kwargs)
    for problem in info.value.problems:
        assert problem.file == str(path)
        assert str(problem) in str(info.value)
    return info.value.problems


def rows(table: tb.Table) -> list[tuple]:
    return [tuple(r) for r in table.frame[[*REQUIRED, tb.LINE]].itertuples(index=False)]


# --------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("utf-16", "utf-16"), ("cp1252", "cp1252")],
)
def test_decode(encoding, name):
    text = "place_id;värde\nÅrummet;1,5\n"
    assert tb.decode(text.encode(encoding)) == (text, name)


def test_decode_utf16_big_endian_with_bom():
    raw = b"\xfe\xff" + "a;b\nå;1\n".encode("utf-16-be")
    assert tb.decode(raw) == ("a;b\nå;1\n", "utf-16")


def test_decode_falls_back_to_latin1_for_bytes_windows_1252_lacks():
    text, encoding = tb.decode(b"a;b\n\x81x;1\n")
    assert encoding == "latin-1" and text == "a;b\n\x81x;1\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_every_encoding_reads_the_same(tmp_path, encoding):
    text = "place_id;period;value\nÅrummet;2021-03;1,5\nKöpmangatan;2021-04;2\n"
    table = read(write(tmp_path, text, encoding))
    assert rows(table) == [("Årummet", "2021-03", "1,5", 2), ("Köpmangatan", "2021-04", "2", 3)]
    assert table.encoding == {"utf-8-sig": "utf-8"}.get(encoding, encoding)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00", "spreadsheet workbook (.xlsx)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old-style Excel workbook (.xls)"),
        ("place_id;value\n".encode("utf-16-le"), "UTF-16 without a byte-order mark"),
    ],
    ids=["xlsx", "xls", "utf16-without-bom"],
)
def test_binary_files_are_refused_with_a_reason(tmp_path, raw, fragment):
    path = tmp_path / "table.csv"
    path.write_bytes(raw)
    (problem,) = fails(path)
    assert fragment in problem.message and "save it as CSV" in problem.message


def test_missing_file_and_folder(tmp_path):
    (problem,) = fails(tmp_path / "nothing.csv")
    assert problem.message == "file not found" and problem.row is None
    (problem,) = fails(tmp_path)
    assert "folder" in problem.message


@pytest.mark.parametrize("text", ["", "\n\n", " ; ;\n\r\n"])
def test_empty_file(tmp_path, text):
    (problem,) = fails(write(tmp_path, text))
    assert problem.message == "the file is empty" and problem.row == 1


def test_header_without_data_rows(tmp_path):
    (problem,) = fails(write(tmp_path, "\nplace_id;period;value\n;;\n"))
    assert problem.message == "the file has a header but no data rows"
    assert problem.row == 2


# --------------------------------------------------------------------------
# separator
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "separator"),
    [
        ("a;b;c", ";"),
        ("a\tb\tc", "\t"),
        ("a,b,c", ","),
        ("a;b, justerad;c", ";"),  # a comma inside a name does not outvote the separator
        ("a b c", None),
        ("a|b|c", None),
        ("a;b,c", None),
    ],
)
def test_sniff_separator(header, separator):
    assert tb.sniff_separator(header) == separator


@pytest.mark.parametrize("separator", [";", "\t", ","])
def test_every_separator_reads_the_same(tmp_path, separator):
    text = "place_id,period,value\nP1,2021-03,1\nP2,2021-04,2\n".replace(",", separator)
    table = read(write(tmp_path, text))
    assert table.separator == separator
    assert table.decimal_comma == (separator != ",")
    assert rows(table) == [("P1", "2021-03", "1", 2), ("P2", "2021-04", "2", 3)]


def test_header_with_no_known_separator(tmp_path):
    (problem,) = fails(write(tmp_path, "\n\nplace_id|period|value\nP1|2021-03|1\n"))
    assert problem.row == 3 and problem.column is None
    assert problem.message.startswith("cannot tell the separator")
    assert "'place_id|period|value'" in problem.message
    assert "';', tab or ','" in problem.message


def test_header_with_two_separators_equally_often(tmp_path):
    (problem,) = fails(write(tmp_path, "place_id;period,value\nP1;2021-03,1\n"))
    assert problem.row == 1
    assert "cannot tell the separator" in problem.message and "';' and ','" in problem.message


# --------------------------------------------------------------------------
# header
# --------------------------------------------------------------------------


def test_column_names_are_matched_without_case_or_spaces(tmp_path):
    table = read(
        write(tmp_path, " Place ID ;PERIOD; Value\nP1;2021-03;1\n"), optional=("exposure",)
    )
    assert table.header == ("place_id", "period", "value")
    assert tb.normalise_column("  Place   ID ") == "place_id"
    # An optional column the file lacks reads as blank.
    assert table.frame["exposure"].tolist() == [""]


def test_missing_and_duplicate_columns_are_reported_together(tmp_path):
    problems = fails(write(tmp_path, "place_id;value;value\nP1;1;2\n"))
    located = sorted((p.row, p.column, p.message) for p in problems)
    assert located == [
        (
            1,
            "period",
            "required column 'period' is missing (the header has: place_id, value, value)",
        ),
        (1, "value", "column appears twice in the header"),
    ]


def test_a_header_with_no_required_column_asks_whether_it_is_missing(tmp_path):
    problems = fails(write(tmp_path, "P1;2021-03;1\nP2;2021-04;2\n"))
    assert len(problems) == 3
    assert all("is the header row missing?" in p.message for p in problems)


def test_other_columns_are_ignored_or_reported(tmp_path):
    path = write(tmp_path, "place_id;period;value;kommentar;\nP1;2021-03;1;ok;\n")
    with pytest.warns(InputWarning, match="row 1, column 'kommentar': unknown column, ignored"):
        assert list(read(path).frame.columns) == [*REQUIRED, tb.LINE]
    (problem,) = fails(path, other_columns="error")
    assert (problem.row, problem.column) == (1, "kommentar")
    assert problem.message == "unknown column (expected: place_id, period, value)"
    with pytest.raises(ValueError, match="other_columns"):
        read(path, other_columns="warn")


def test_an_unnamed_column_counts_only_when_it_holds_data(tmp_path):
    empty = write(tmp_path, "place_id;period;value;\nP1;2021-03;1;\n", name="a.csv")
    assert rows(read(empty, other_columns="error")) == [("P1", "2021-03", "1", 2)]
    used = write(tmp_path, "place_id;period;value;\nP1;2021-03;1;x\n", name="b.csv")
    (problem,) = fails(used, other_columns="error")
    assert problem.message == "column 4 holds data but has no name in the header"


# --------------------------------------------------------------------------
# rows and line numbers
# --------------------------------------------------------------------------

BODY = (
    "\r\n"  # line 1: blank
    "place_id;period;value\r\n"  # line 2: the header
    "P1;2021-03; 1 \r\n"  # line 3
    "\r\n"  # line 4: blank
    ";;\r\n"  # line 5: separators only, blank too
    "P2;2021-04;2\r\n"  # line 6
    "P3;2021-05\r\n"  # line 7: cut short
    "P4;2021-06;4;;\r\n"  # line 8: trailing empty fields
)
EXPECTED = [
    ("P1", "2021-03", "1", 3),
    ("P2", "2021-04", "2", 6),
    ("P3", "2021-05", "", 7),
    ("P4", "2021-06", "4", 8),
]


def test_line_numbers_are_the_editors(tmp_path):
    table = read(write(tmp_path, BODY))
    assert table.header_line == 2
    assert rows(table) == EXPECTED
    assert table.problems == []


def test_quoted_cells_read_the_same_and_keep_line_numbers(tmp_path):
    # Quotes take the general path; the result must not depend on the path.
    quoted = BODY.replace("P2;2021-04;2", '"P2";"2021-04";"2"')
    assert rows(read(write(tmp_path, quoted))) == EXPECTED
    # A quoted cell spanning lines is one row, named by its first line.
    spanning = BODY.replace("P2;2021-04;2", 'P2;2021-04;"2\r\nmore"')
    table = read(write(tmp_path, spanning, name="b.csv"))
    assert [r[-1] for r in rows(table)] == [3, 6, 8, 9]
    assert rows(table)[1][2] == "2\r\nmore"


def test_a_row_with_too_many_fields_is_reported_and_left_out(tmp_path):
    text = "place_id,period,value\nP1,2021-03,1,5\nP2,2021-04,2\n"
    table = read(write(tmp_path, text))
    assert rows(table) == [("P2", "2021-04", "2", 3)]
    (problem,) = table.problems
    assert (problem.row, problem.column) == (2, None)
    assert problem.message.startswith("has 4 fields but the header has 3")
    assert "decimal comma" in problem.message  # the likely cause in a comma-separated file
    table = read(write(tmp_path, text.replace(",", ";"), name="b.csv"))
    assert "must be quoted" in table.problems[0].message


def test_a_field_the_csv_module_cannot_read(tmp_path):
    text = 'place_id;period;value\nP1;2021-03;1\nP2;2021-04;"' + "x" * 200_000 + '"\n'
    (problem,) = fails(write(tmp_path, text))
    assert problem.message.startswith("not a readable CSV file") and problem.row == 3


# --------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------

# text, read with decimal commas allowed, read in a comma-separated file
NUMBERS = [
    ("12", 12.0, 12.0),
    ("12.5", 12.5, 12.5),
    ("12,5", 12.5, None),
    ("-0,25", -0.25, None),
    ("+7", 7.0, 7.0),
    (".5", 0.5, 0.5),
    ("5.", 5.0, 5.0),
    ("1e1", 10.0, 10.0),
    ("1,5e3", 1500.0, None),
    (" 7 ", 7.0, 7.0),
    ("\u22123", -3.0, -3.0),
    ("22 845", 22845.0, 22845.0),
    ("22\u00a0845,5", 22845.5, None),
    ("1\u202f234\u202f567", 1234567.0, 1234567.0),
    ("1 20", None, None),
    ("1.234,5", None, None),
    ("1,234,567", None, None),
    ("12,5,0", None, None),
    ("1_000", None, None),
    ("0x10", None, None),
    ("inf", None, None),
    ("nan", None, None),
    ("1e999", None, None),
    ("tolv", None, None),
    ("", None, None),
]


@pytest.mark.parametrize(("text", "with_comma", "without_comma"), NUMBERS)
def test_parse_number(text, with_comma, without_comma):
    assert tb.parse_number(text) == with_comma
    assert tb.parse_number(text, decimal_comma=False) == without_comma


@pytest.mark.parametrize("decimal_comma", [True, False])
def test_parse_numbers_agrees_with_parse_number(decimal_comma):
    texts = pd.Series([t.strip() for t, *_ in NUMBERS], index=range(10, 10 + len(NUMBERS)))
    parsed = tb.parse_numbers(texts, decimal_comma=decimal_comma)
    assert parsed.dtype == float and parsed.index.equals(texts.index)
    expected = [tb.parse_number(t, decimal_comma=decimal_comma) for t in texts]
    assert [None if math.isnan(v) else v for v in parsed] == expected


def test_table_parses_by_its_separator(tmp_path):
    semicolon = read(write(tmp_path, "place_id;period;value\nP1;2021-03;1,5\n"))
    comma = read(write(tmp_path, 'place_id,period,value\nP1,2021-03,"1,5"\n', name="b.csv"))
    assert semicolon.parse_number("1,5") == 1.5 and comma.parse_number("1,5") is None
    assert semicolon.parse_int("2,0") == 2 and comma.parse_int("2,0") is None
    assert semicolon.parse_numbers(semicolon.frame["value"]).tolist() == [1.5]
    assert comma.parse_numbers(comma.frame["value"]).isna().all()
    assert semicolon.number_hint("1,5") == ""
    assert "comma-separated file" in comma.number_hint("1,5")


def test_number_hint():
    assert "comma-separated file" in tb.number_hint("12,5", decimal_comma=False)
    assert "';' as the separator" in tb.number_hint("22 845,5", decimal_comma=False)
    assert "thousands separators" in tb.number_hint("1.234,5")
    assert "thousands separators" in tb.number_hint("1,234,567")
    assert tb.number_hint("tolv") == "" and tb.number_hint("12,5") == ""


@pytest.mark.parametrize(
    ("text", "value"),
    [("7", 7), ("7.0", 7), ("7,0", 7), ("1e1", 10), ("-3", -3), ("7,5", None), ("x", None)],
)
def test_parse_int(text, value):
    assert tb.parse_int(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2021-10-01", date(2021, 10, 1)),
        ("2021-02-30", None),
        ("2021-9-1", None),
        ("01/10/2021", None),
        ("2021-10-01T12:00", None),
        ("", None),
    ],
)
def test_parse_date(text, value):
    assert tb.parse_date(text) == value


# --------------------------------------------------------------------------
# names of the study
# --------------------------------------------------------------------------


def test_canonical_and_place_lookup():
    assert tb.canonical([" Falun", "Sala"]) == {"falun": "Falun", "sala": "Sala"}
    assert tb.place_lookup(None) is None
    assert tb.place_lookup(["a ", "b"]) == {"a": None, "b": None}
    assert tb.place_lookup({"a": " Falun"}) == {"a": "Falun"}


@pytest.mark.parametrize(
    ("municipality", "place", "result", "problem"),
    [
        ("falun", "knutpunkten", ("Falun", "knutpunkten", True), None),
        ("Falun", "", ("Falun", None, True), None),
        ("", "", (None, None, False), ("municipality", "municipality is blank")),
        ("Mora", "", (None, None, False), ("municipality", "unknown municipality 'Mora'")),
        ("Falun", "elsewhere", ("Falun", "elsewhere", False), ("place_id", "unknown place_id")),
        ("Sala", "knutpunkten", ("Sala", "knutpunkten", False), ("place_id", "belongs to Falun")),
        ("Sala", "torget", ("Sala", "torget", True), None),  # municipality of the place unknown
    ],
)
def test_check_municipality_and_place(municipality, place, result, problem):
    problems: list[Problem] = []
    places = {"knutpunkten": "Falun", "torget": None}
    known = tb.canonical(["Falun", "Sala"])
    found = tb.check_municipality_and_place(
        "f.csv", 7, municipality, place, known, places, problems
    )
    assert found == result
    if problem is None:
        assert problems == []
    else:
        (only,) = problems
        assert (only.file, only.row, only.column) == ("f.csv", 7, problem[0])
        assert problem[1] in only.message


def test_summary_html_escapes_the_summary():
    out = summary_html("a < b", pd.DataFrame({"x": [1.0, np.nan]}))
    assert out.startswith("<pre>a &lt; b</pre>") and "<table" in out and "–" in out


def test_a_misspelt_optional_column_names_its_close_match(tmp_path):
    """Regression: 'plats_id' for the optional 'place_id' was ignored, and every row lost its place."""
    path = write(tmp_path, "plats_id;period;value\nP1;2021-03;1\n")
    (problem,) = fails(path, required=("period", "value"), optional=("place_id",))
    assert (problem.row, problem.column) == (1, "plats_id")
    assert problem.message.startswith("unknown column: did you mean 'place_id'?")


def test_a_file_mixing_utf8_and_windows_1252_is_refused(tmp_path):
    """Regression: such a file was read as Windows-1252, with 'Ersätta' as 'ErsÃ¤tta'."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "place_id;period;value\nErsätta;2021-03;1\n".encode()
        + "Västerås;2021-04;2\n".encode("cp1252")
    )
    (problem,) = fails(path)
    assert problem.row == 2
    assert "mixes encodings: row 2 is UTF-8 but row 3 is not" in problem.message
    whole = tmp_path / "whole.csv"
    whole.write_bytes("place_id;period;value\nVästerås;2021-04;2\n".encode("cp1252"))
    assert read(whole).encoding == "cp1252"


def test_a_row_records_every_failed_check_and_keeps_the_good_cells(tmp_path):
    path = write(
        tmp_path,
        "municipality;place_id;day;kind;amount;note;extra\n"
        "Sala;p1;2024-02-30;LAMP;0;;\n"
        "falun;;2024-03-01;Bench;1,5;ok;2\n",
    )
    table = tb.read_table(
        path,
        required=("municipality", "day", "kind", "amount"),
        optional=("place_id", "note", "extra"),
    )
    known = tb.canonical(["Sala", "Falun"])
    checked = []
    for row in table.rows():
        municipality, place = row.municipality_and_place(known, tb.place_lookup(["p1"]))
        values = (
            municipality,
            place,
            row.date("day"),
            row.choice("kind", ("lamp", "bench")),
            row.positive_number("amount"),
            row.text("note"),
            row.positive_number("extra", optional=True),
        )
        checked.append((row.line, row.ok, values))
    assert checked == [
        (2, False, ("Sala", "p1", None, "lamp", None, None, None)),
        (3, True, ("Falun", None, date(2024, 3, 1), "bench", 1.5, "ok", 2.0)),
    ]
    assert [(p.row, p.column, p.message) for p in table.problems] == [
        (2, "day", "'2024-02-30' is not a date written YYYY-MM-DD"),
        (2, "amount", "amount '0' is not a positive number"),
        (2, "note", "note is blank"),
    ]
    assert {p.file for p in table.problems} == {str(path)}
