"""Tests of the study description contract (``study.yml``) and ``load_study``.

Broken studies are built by copying the demo study to a temporary folder and
making small text edits to its ``study.yml``; the demo files themselves are
only ever read. Each problem must name the file, the row (the line in
``study.yml`` as an editor shows it) and the column (the field).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticValidationError

from pipeline.errors import Problem, ValidationError
from pipeline.inputs.study import STUDY_FILE, Study, load_study
from tests.conftest import assert_located, only_problem

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "trygga_platser_demo"


# --------------------------------------------------------------------------- helpers


def make_study(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """Copy the demo study to ``tmp_path`` and apply text replacements to its study.yml.

    Every ``old`` text must occur exactly once, so an edit can never silently miss.
    """
    folder = tmp_path / "study"
    shutil.copytree(DEMO_DIR, folder)
    path = folder / STUDY_FILE
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, f"edit target occurs {text.count(old)} times: {old!r}"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return folder


def line_of(folder: Path, snippet: str, after: str | None = None) -> int:
    """The 1-based line of study.yml holding ``snippet`` (the first one below ``after``)."""
    lines = (folder / STUDY_FILE).read_text(encoding="utf-8").splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line) + 1
    return next(i + 1 for i in range(start, len(lines)) if snippet in lines[i])


def load_fails(folder: Path) -> pytest.ExceptionInfo[ValidationError]:
    with pytest.raises(ValidationError) as err:
        load_study(folder)
    return err


def located_problem(
    folder: Path, snippet: str, column: str | None, *, after: str | None = None
) -> Problem:
    """The one problem of loading the study, checked to name study.yml, the line holding
    ``snippet`` (the first one below ``after``) and the column."""
    err = load_fails(folder)
    problem = only_problem(err)
    assert_located(err, problem, folder / STUDY_FILE, line_of(folder, snippet, after), column)
    return problem


# --------------------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def demo() -> Study:
    return load_study(DEMO_DIR)


def test_demo_loads_four_municipalities(demo: Study) -> None:
    assert [m.kommunkod for m in demo.municipalities] == ["2084", "2080", "1961", "1981"]
    assert demo.municipality_names == ["Avesta", "Falun", "Hallstahammar", "Sala"]
    assert demo.municipality("Sala").kommunkod == "1981"
    assert demo.synthetic is True


def test_demo_targets_start_within_the_programme(demo: Study) -> None:
    targets = demo.targets()
    assert len(targets) == 10
    for target in targets:
        assert isinstance(target.intervention_start, dt.date)
        assert dt.date(2020, 4, 1) <= target.intervention_start <= dt.date(2022, 6, 30)
    # Every municipality has at least one target, and every target has a control.
    for name in demo.municipality_names:
        assert demo.targets(name)
    assert all(target.controls for target in targets)


def test_demo_references_are_consistent(demo: Study) -> None:
    for target in demo.targets():
        for control in target.controls:
            assert demo.place(control).role == "control"
            assert demo.place(control).municipality == target.municipality
        if target.buffer is not None:
            assert demo.place(target.buffer).role == "buffer"
    for place in demo.places:
        if place.role != "target":
            assert place.intervention_start is None
            assert place.controls == ()
            assert place.buffer is None
    assert [i.id for i in demo.indicators] == [
        "crimes_total",
        "crimes_violence",
        "crimes_theft",
        "crimes_vandalism",
        "unsafe_evening",
        "inspection_score",
        "footfall",
        "women_share",
        "vacant_premises",
        "local_problems",
    ]
    assert [i.family for i in demo.indicators] == ["count"] * 4 + [
        "proportion",
        "score",
        "count",
        "proportion",
        "proportion",
        "continuous",
    ]
    assert [i.better for i in demo.indicators][-4:] == ["higher", "higher", "lower", "lower"]
    assert [s.id for s in demo.shocks] == ["covid19"]


def test_demo_lookups(demo: Study) -> None:
    assert demo.place("sala_stationen").buffer == "sala_stationen_buffert"
    assert demo.indicator("crimes_theft").label_en == "Thefts"
    with pytest.raises(KeyError):
        demo.place("nowhere")
    with pytest.raises(KeyError):
        demo.indicator("nothing")
    with pytest.raises(KeyError):
        demo.municipality("Stockholm")


def test_study_is_immutable(demo: Study) -> None:
    with pytest.raises(PydanticValidationError):
        demo.title = "changed"  # type: ignore[misc]


def test_unchanged_copy_loads_the_same_study(tmp_path: Path, demo: Study) -> None:
    assert load_study(make_study(tmp_path)) == demo


def test_accepts_a_str_folder(tmp_path: Path, demo: Study) -> None:
    assert load_study(str(make_study(tmp_path))) == demo


def test_accepts_a_utf8_bom(tmp_path: Path, demo: Study) -> None:
    folder = make_study(tmp_path)
    path = folder / STUDY_FILE
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_study(folder) == demo


# --------------------------------------------------------------------------- kommunkod


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("'2080'", "2080"),
        ("2080", "2080"),
        # Unquoted codes with a leading zero: YAML 1.1 would read 0114 as octal 76.
        ("0114", "0114"),
        ("0180", "0180"),
        ("'0114'", "0114"),
    ],
)
def test_kommunkod_is_kept_as_written(tmp_path: Path, written: str, code: str) -> None:
    folder = make_study(tmp_path, ("kommunkod: '2080'", f"kommunkod: {written}"))
    assert load_study(folder).municipality("Falun").kommunkod == code


@pytest.mark.parametrize("code", ["'208'", "'20800'", "20800", "'F080'", "'20 80'", "''", "null"])
def test_bad_kommunkod(tmp_path: Path, code: str) -> None:
    folder = make_study(tmp_path, ("kommunkod: '2080'", f"kommunkod: {code}"))
    problem = located_problem(folder, "kommunkod:", "kommunkod", after="- name: Falun")
    assert "municipalities[1] (Falun).kommunkod" in problem.message


# --------------------------------------------------------------------------- unknown keys


def test_unknown_place_key(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path, ("  intervention_start: '2021-03-01'", "  intervention_strat: '2021-03-01'")
    )
    # The typo is reported; the missing intervention_start is not checked before the schema passes.
    problem = located_problem(folder, "intervention_strat", "intervention_strat")
    assert "places[1] (avesta_gallerian).intervention_strat" in problem.message
    assert "not permitted" in problem.message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("\nshocks:\n", "\nshock:\n"))
    located_problem(folder, "shock:", "shock")


def test_unknown_municipality_key(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("  population: 59000", "  populaton: 59000"))
    problem = located_problem(folder, "populaton", "populaton")
    assert "municipalities[1] (Falun).populaton" in problem.message


# --------------------------------------------------------------------------- targets


def test_target_without_intervention_start(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("  intervention_start: '2021-03-01'\n", ""))
    # The field is absent, so the row is where the place begins.
    problem = located_problem(folder, "- id: avesta_gallerian", "intervention_start")
    assert "avesta_gallerian" in problem.message
    assert "no intervention_start" in problem.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("'2021-13-01'", "month"),
        ("'2021-02-30'", "date"),
        ("maj 2021", "date"),
        ("2021/05/01", "date"),
        ("'01-05-2021'", "date"),
        ("''", "date"),
    ],
)
def test_bad_intervention_start(tmp_path: Path, value: str, fragment: str) -> None:
    folder = make_study(
        tmp_path, ("intervention_start: '2021-05-01'", f"intervention_start: {value}")
    )
    problem = located_problem(
        folder, "intervention_start:", "intervention_start", after="- id: falun_holmtorget"
    )
    assert "places[5] (falun_holmtorget).intervention_start" in problem.message
    assert fragment in problem.message


def test_unquoted_date_is_accepted(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path, ("intervention_start: '2021-05-01'", "intervention_start: 2021-05-01")
    )
    assert load_study(folder).place("falun_holmtorget").intervention_start == dt.date(2021, 5, 1)


def test_bad_co_intervention_date(tmp_path: Path) -> None:
    old = "  - start: '2023-11-01'\n    description: Polisens kamerabevakning av Knutpunkten och Holmtorget\n- id: falun_resecentrum"
    new = "  - start: '2023-11-31'\n    description: Polisens kamerabevakning av Knutpunkten och Holmtorget\n- id: falun_resecentrum"
    folder = make_study(tmp_path, (old, new))
    problem = located_problem(folder, "2023-11-31", "start")
    assert "places[5] (falun_holmtorget).co_interventions[0].start" in problem.message


def test_shock_ending_before_it_starts(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("end: '2022-02-28'", "end: '2019-02-28'"))
    problem = located_problem(folder, "end: '2019-02-28'", "end")
    assert "covid19" in problem.message


def test_study_without_targets(tmp_path: Path) -> None:
    folder = make_study(tmp_path)
    path = folder / STUDY_FILE
    kept = []
    in_target = False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("- id: ") or line.startswith("indicators:"):
            in_target = False
        if line == "  role: target\n":
            in_target = True
            kept.append("  role: control\n")
        elif not (
            in_target
            and line.startswith(
                (
                    "  intervention_start",
                    "  controls",
                    "  - ",
                    "  buffer",
                    "  co_interventions",
                    "    description",
                )
            )
        ):
            kept.append(line)
    path.write_text("".join(kept), encoding="utf-8")
    err = load_fails(folder)
    problem = only_problem(err)
    assert problem.file == str(path)
    assert "no target place" in problem.message


# --------------------------------------------------------------------------- controls and buffers

BUSSTORGET_CONTROLS = "  controls:\n  - avesta_krylbo\n  buffer: avesta_centrum_buffert"


@pytest.mark.parametrize(
    ("control", "fragment"),
    [
        ("avesta_kyrlbo", "unknown control place 'avesta_kyrlbo'"),
        ("avesta_gallerian", "'avesta_gallerian' is a target, not a control"),
        ("avesta_centrum_buffert", "'avesta_centrum_buffert' is a buffer, not a control"),
    ],
)
def test_control_that_is_not_a_control(tmp_path: Path, control: str, fragment: str) -> None:
    folder = make_study(
        tmp_path,
        (BUSSTORGET_CONTROLS, BUSSTORGET_CONTROLS.replace("- avesta_krylbo", f"- {control}")),
    )
    problem = located_problem(folder, "controls:", "controls", after="- id: avesta_busstorget")
    assert "target 'avesta_busstorget'" in problem.message
    assert fragment in problem.message


def test_second_control_unknown(tmp_path: Path) -> None:
    old = "  - falun_jamforelse_soder\n  co_interventions:\n  - start: '2023-11-01'\n    description: Polisens kamerabevakning av Knutpunkten och Holmtorget\n- id: falun_holmtorget"
    folder = make_study(
        tmp_path, (old, old.replace("falun_jamforelse_soder", "falun_jamforelse_ost", 1))
    )
    problem = located_problem(folder, "controls:", "controls", after="- id: falun_knutpunkten")
    assert (
        "target 'falun_knutpunkten': unknown control place 'falun_jamforelse_ost'"
        in problem.message
    )


@pytest.mark.parametrize(
    ("buffer", "fragment"),
    [
        ("avesta_buffert", "unknown buffer place 'avesta_buffert'"),
        ("avesta_krylbo", "'avesta_krylbo' is a control, not a buffer"),
        ("avesta_gallerian", "'avesta_gallerian' is a target, not a buffer"),
    ],
)
def test_buffer_that_is_not_a_buffer(tmp_path: Path, buffer: str, fragment: str) -> None:
    folder = make_study(tmp_path, ("buffer: avesta_centrum_buffert", f"buffer: {buffer}"))
    problem = located_problem(folder, "buffer:", "buffer", after="- id: avesta_busstorget")
    assert "target 'avesta_busstorget'" in problem.message
    assert fragment in problem.message


# --------------------------------------------------------------------------- roles


KRYLBO = "  role: control\n- id: avesta_centrum_buffert"
BUFFERT = "  role: buffer\n- id: falun_knutpunkten"


@pytest.mark.parametrize(
    ("old", "added", "place", "role", "column"),
    [
        (
            KRYLBO,
            "  intervention_start: '2021-01-01'\n",
            "avesta_krylbo",
            "control",
            "intervention_start",
        ),
        (
            BUFFERT,
            "  intervention_start: '2021-01-01'\n",
            "avesta_centrum_buffert",
            "buffer",
            "intervention_start",
        ),
        (KRYLBO, "  buffer: avesta_centrum_buffert\n", "avesta_krylbo", "control", "buffer"),
        (
            KRYLBO,
            "  controls:\n  - falun_jamforelse_norr\n",
            "avesta_krylbo",
            "control",
            "controls",
        ),
    ],
)
def test_field_only_for_targets(
    tmp_path: Path, old: str, added: str, place: str, role: str, column: str
) -> None:
    head, tail = old.split("\n", 1)
    folder = make_study(tmp_path, (old, f"{head}\n{added}{tail}"))
    problem = located_problem(folder, f"  {column}:", column, after=f"- id: {place}")
    assert f"'{column}' is only for targets, but '{place}' is a {role}" in problem.message


def test_unknown_role(tmp_path: Path) -> None:
    folder = make_study(tmp_path, (KRYLBO, KRYLBO.replace("role: control", "role: kontroll")))
    problem = located_problem(folder, "role: kontroll", "role")
    assert "places[2] (avesta_krylbo).role" in problem.message


# --------------------------------------------------------------------------- references and duplicates


def test_unknown_municipality(tmp_path: Path) -> None:
    old = "  municipality: Falun\n  role: target\n  intervention_start: '2021-05-01'"
    folder = make_study(tmp_path, (old, old.replace("Falun", "Faluns")))
    problem = located_problem(folder, "municipality: Faluns", "municipality")
    assert "place 'falun_holmtorget': unknown municipality 'Faluns'" in problem.message


def test_duplicate_place_id(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("- id: avesta_gallerian", "- id: avesta_busstorget"))
    err = load_fails(folder)
    problem = only_problem(err)
    # The second occurrence is the one reported.
    second = line_of(folder, "- id: avesta_busstorget", after="- id: avesta_busstorget")
    assert second > line_of(folder, "- id: avesta_busstorget")
    assert_located(err, problem, folder / STUDY_FILE, second, "id")
    assert "duplicate id 'avesta_busstorget'" in problem.message


def test_duplicate_municipality(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("- name: Hallstahammar", "- name: Falun"))
    err = load_fails(folder)
    messages = [p.message for p in err.value.problems]
    assert "duplicate name 'Falun'" in messages
    duplicate = next(p for p in err.value.problems if p.message == "duplicate name 'Falun'")
    assert_located(
        err,
        duplicate,
        folder / STUDY_FILE,
        line_of(folder, "- name: Falun", after="- name: Falun"),
        "name",
    )


def test_duplicate_indicator(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("- id: crimes_theft", "- id: crimes_violence"))
    problem = located_problem(folder, "- id: crimes_violence", "id", after="- id: crimes_violence")
    assert "duplicate id 'crimes_violence'" in problem.message


def test_bad_place_id(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("- id: avesta_centrum_buffert", "- id: Avesta-Buffert"))
    located_problem(folder, "- id: Avesta-Buffert", "id")


def test_missing_required_field(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("  name: Krylbo centrum (jämförelseområde)\n", ""))
    problem = located_problem(folder, "- id: avesta_krylbo", "name")
    assert "places[2] (avesta_krylbo).name" in problem.message


# --------------------------------------------------------------------------- several problems


def test_all_schema_problems_are_reported(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path,
        ("kommunkod: '1961'", "kommunkod: '196'"),
        ("intervention_start: '2021-05-01'", "intervention_start: '2021-05-32'"),
        (
            "  family: count\n  better: lower\n  unit: anmälda brott per månad\n- id: crimes_theft",
            "  family: counts\n  better: lower\n  unit: anmälda brott per månad\n- id: crimes_theft",
        ),
    )
    err = load_fails(folder)
    located = {(p.row, p.column) for p in err.value.problems}
    assert located == {
        (line_of(folder, "kommunkod: '196'"), "kommunkod"),
        (line_of(folder, "2021-05-32"), "intervention_start"),
        (line_of(folder, "family: counts"), "family"),
    }
    assert str(err.value).startswith("3 problems in the input:")


def test_all_reference_problems_are_reported(tmp_path: Path) -> None:
    old = "  municipality: Falun\n  role: target\n  intervention_start: '2021-05-01'"
    folder = make_study(
        tmp_path,
        (old, old.replace("Falun", "Faluns")),
        ("buffer: sala_stationen_buffert", "buffer: sala_jamforelse_vaster"),
        ("  intervention_start: '2021-03-01'\n", ""),
    )
    err = load_fails(folder)
    located = {(p.row, p.column) for p in err.value.problems}
    assert located == {
        (line_of(folder, "municipality: Faluns"), "municipality"),
        (line_of(folder, "buffer: sala_jamforelse_vaster"), "buffer"),
        (line_of(folder, "- id: avesta_gallerian"), "intervention_start"),
    }
    for problem in err.value.problems:
        assert problem.file == str(folder / STUDY_FILE)
        assert str(problem) in str(err.value)


# --------------------------------------------------------------------------- the file itself


@pytest.mark.parametrize(
    ("old", "new", "error_line", "after"),
    [
        (KRYLBO, KRYLBO.replace("\n", "\n   bad: [\n"), "bad: [", None),
        (KRYLBO, KRYLBO.replace("\n", "\n\tx: 1\n"), "\tx: 1", None),
        # The parser stops at the first token it cannot fit, a few lines below the typo.
        (
            "  name: Stadsparken\n",
            "  name: [Stadsparken\n",
            "municipality: Sala",
            "- id: sala_stadsparken",
        ),
        (
            "  name: Stadsparken\n",
            "  name: 'Stadsparken\n",
            "intervention_start:",
            "- id: sala_stadsparken",
        ),
    ],
    ids=["mapping-in-value", "tab", "unclosed-bracket", "unclosed-quote"],
)
def test_invalid_yaml(
    tmp_path: Path, old: str, new: str, error_line: str, after: str | None
) -> None:
    folder = make_study(tmp_path, (old, new))
    problem = located_problem(folder, error_line, None, after=after)
    assert problem.message.startswith("not valid YAML")


def test_invalid_yaml_message_shows_where_the_construct_began(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("  name: Stadsparken\n", '  name: "Stadsparken\n'))
    err = load_fails(folder)
    problem = only_problem(err)
    # An unclosed double quote runs to the end of the file; the parser's context names the line.
    assert problem.row == len((folder / STUDY_FILE).read_text(encoding="utf-8").splitlines()) + 1
    opened = line_of(folder, 'name: "Stadsparken')
    assert f"line {opened}" in problem.message


def test_not_utf8(tmp_path: Path) -> None:
    folder = make_study(tmp_path)
    path = folder / STUDY_FILE
    name = "Gallerian och Örngränd"
    path.write_bytes(path.read_bytes().replace(name.encode("utf-8"), name.encode("latin-1")))
    err = load_fails(folder)
    problem = only_problem(err)
    assert_located(
        err, problem, folder / STUDY_FILE, line_of_bytes(path, name.encode("latin-1")), None
    )
    assert "UTF-8" in problem.message


def line_of_bytes(path: Path, snippet: bytes) -> int:
    lines = path.read_bytes().split(b"\n")
    return next(i + 1 for i, line in enumerate(lines) if snippet in line)


def test_missing_file(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    err = load_fails(folder)
    problem = only_problem(err)
    assert_located(err, problem, folder / STUDY_FILE, None, None)
    assert "not found" in problem.message


def test_missing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "no_such_study"
    err = load_fails(folder)
    assert only_problem(err).file == str(folder / STUDY_FILE)


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "- a list\n- not a mapping\n", "just text\n"]
)
def test_top_level_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    folder = make_study(tmp_path)
    (folder / STUDY_FILE).write_text(text, encoding="utf-8")
    err = load_fails(folder)
    problem = only_problem(err)
    assert problem.file == str(folder / STUDY_FILE)
    assert "mapping" in problem.message


def test_demo_files_untouched_by_edits(tmp_path: Path) -> None:
    before = (DEMO_DIR / STUDY_FILE).read_bytes()
    make_study(tmp_path, ("kommunkod: '2080'", "kommunkod: 'F080'"))
    assert (DEMO_DIR / STUDY_FILE).read_bytes() == before


def test_buffer_controls_must_be_controls(tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(DEMO_DIR, folder)
    text = (folder / STUDY_FILE).read_text("utf-8")
    (folder / STUDY_FILE).write_text(
        text.replace("  - sala_givare_3\n", "  - sala_stadsparken\n", 1), "utf-8"
    )
    with pytest.raises(ValidationError) as caught:
        load_study(folder)
    problem = caught.value.problems[0]
    assert problem.column == "buffer_controls" and problem.row is not None
    assert "'sala_stadsparken' is a target, not a control" in problem.message


# --------------------------------------------------------------------------- survey, inspections, action plan


def test_demo_has_survey_inspection_and_action_plan_settings(demo: Study) -> None:
    assert demo.survey.indicator == "unsafe_evening"
    assert demo.indicator(demo.survey.indicator).family == "proportion"
    assert demo.indicator(demo.inspections.indicator).family == "score"
    assert demo.action_plan.horizons_months == (12, 24)


def test_survey_indicator_must_exist(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("  indicator: unsafe_evening\n", "  indicator: unsafe_night\n"))
    with pytest.raises(ValidationError) as err:
        load_study(folder)
    problem = only_problem(err)
    assert "unknown indicator 'unsafe_night'" in problem.message
    assert problem.row == line_of(folder, "indicator: unsafe_night")
    assert problem.column == "indicator"


def test_survey_indicator_must_be_a_proportion(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("  indicator: unsafe_evening\n", "  indicator: crimes_total\n"))
    with pytest.raises(ValidationError, match="family 'count', expected 'proportion'"):
        load_study(folder)


def test_survey_waves_must_be_in_order(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("- '2022-04-15'", "- '2019-01-15'"))
    with pytest.raises(ValidationError, match="after the 'before' waves"):
        load_study(folder)


def test_unsafe_answers_are_on_the_scale(tmp_path: Path) -> None:
    folder = make_study(tmp_path, ("  unsafe_answers:\n  - 3\n", "  unsafe_answers:\n  - 5\n"))
    with pytest.raises(ValidationError) as err:
        load_study(folder)
    assert "codes 1-4" in only_problem(err).message
