"""The study description (``study.yml``): schema, loading and cross-checks.

A study is a folder holding ``study.yml`` and ``series.csv``. This module owns
``study.yml``; :mod:`pipeline.inputs.series` owns the series file. The schema is
declared with pydantic so that every field error comes back with its location,
which we translate into the file/row/column language of
:class:`~pipeline.errors.ValidationError`. The file itself is read by
:mod:`.text_files` (UTF-8, YAML within limits, each key's line).

The schema and its cross-checks stay in one module (over 500 lines): the
cross-checks walk the schema's own models and name their lines.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from ..errors import PipelineError, Problem, ValidationError
from ..run.paths import folder_name
from .text_files import (
    MAX_YAML_BYTES,
    YamlLimitError,
    key_lines,
    line_for,
    parse_yaml,
    read_utf8,
)

STUDY_FILE = "study.yml"
SERIES_FILE = "series.csv"
SURVEY_FILE = "survey.csv"
SURVEY_SHARES_FILE = "survey_shares.csv"
#: The places as polygons in SWEREF 99 TM, as ``import-offences`` writes them (for the map).
PLACE_SHAPES_FILE = "places.geojson"
INSPECTIONS_FILE = "inspections.csv"
ACTIONS_FILE = "actions.csv"
FINAL_REPORT_TEXTS = {"sv": "final_report.md", "en": "final_report.en.md"}

Family = Literal["count", "proportion", "ordinal", "score", "continuous"]
Role = Literal["target", "control", "buffer"]


class _Strict(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Municipality(_Strict):
    name: str = Field(min_length=1)
    kommunkod: str = Field(pattern=r"^\d{4}$", description="SCB municipality code, four digits")
    # The bound catches a typo of a few digits; no municipality comes near it.
    population: int | None = Field(default=None, gt=0, le=50_000_000)
    county: str | None = None

    @field_validator("kommunkod", mode="before")
    @classmethod
    def _code_as_text(cls, value: object) -> object:
        # YAML reads 0114 as a number; a municipality code is text with leading zeros.
        if isinstance(value, int):
            return f"{value:04d}"
        return value


class CoIntervention(_Strict):
    start: dt.date
    description: str


class Place(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=1)
    municipality: str
    role: Role
    intervention_start: dt.date | None = None
    controls: tuple[str, ...] = ()
    buffer: str | None = None
    buffer_controls: tuple[str, ...] = Field(
        default=(), description="control places for the buffer (default: the target's controls)"
    )
    co_interventions: tuple[CoIntervention, ...] = ()
    description: str | None = None


class Indicator(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label_sv: str
    label_en: str
    family: Family
    better: Literal["lower", "higher"]
    unit: str


class Shock(_Strict):
    """A period of common disturbance (e.g. COVID-19) that models without controls adjust for."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label_sv: str
    label_en: str
    start: dt.date
    end: dt.date | None = None


class ItsSettings(_Strict):
    """How the interrupted time series is fitted (defaults: the settings calibrated in the pipeline)."""

    harmonic_pairs: int = Field(default=2, ge=0, le=6)
    inference: Literal["quasipoisson", "hac", "poisson"] = "quasipoisson"
    reference: Literal["t", "normal"] = "t"
    drift: bool = True
    drift_method: Literal["random_walk", "inflation", "variance"] = Field(
        default="random_walk",
        description="random_walk: the variance a random walk of the log level adds, at the "
        "drift measured across real crime series; inflation: variance times the series' own "
        "placebo steps' mean squared z (at least 1); variance: their excess variance added "
        "(both only where the placebo steps are worth at least 5 independent ones)",
    )


class ControlledSettings(_Strict):
    """How the controlled comparison is fitted (defaults: calibrated on real series)."""

    trend: bool = True
    drift: bool = True
    drift_variance: Literal["pooled", "learnt"] = Field(
        default="pooled",
        description="pooled: the random walk's variance measured across real crime series, the "
        "same for every place; learnt: the place's own pre-period estimate combined with the "
        "pooled one as a prior",
    )


class ConfirmatorySettings(_Strict):
    """The confirmatory question, declared before the results (see ``evaluation/study.py``).

    By default the first count indicator (total reported crime) is each
    municipality's primary outcome, the programme-level pooled estimate joins
    them in the confirmatory family, and the study's other count indicators are
    its subcategories, tested only where their primary is clear.
    """

    indicator: str | None = Field(
        default=None, description="the primary count indicator (default: the first count one)"
    )
    programme: bool = Field(
        default=True, description="the programme-level pooled estimate is confirmatory too"
    )
    subcategories: tuple[str, ...] | None = Field(
        default=None,
        description="count indicators gatekept by the primary (default: the other count ones)",
    )
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="family-wise error rate")


class Analysis(_Strict):
    """Per-study analysis settings; only needed to reproduce a published specification."""

    its: ItsSettings = ItsSettings()
    controlled: ControlledSettings = ControlledSettings()
    confirmatory: ConfirmatorySettings = ConfirmatorySettings()


class ProblemsIndexSettings(_Strict):
    """The local problems index: the mean of a respondent's answers to several problem questions.

    Each question (litter, graffiti, loitering, poor lighting …) is answered in
    ``survey.csv`` on the scale 1 no problem, 2 a fairly small problem, 3 a
    fairly big problem, 4 a big problem, 5 don't know (missing), as in the
    police's local safety surveys. Lower is better.
    """

    indicator: str = Field(description="the study indicator (family continuous) it measures")
    questions: tuple[str, ...] = Field(min_length=2, description="the question codes averaged")
    min_answered: int | None = Field(
        default=None,
        ge=1,
        description="questions a respondent must have answered (1-4) to have an index; "
        "by default half of them, rounded up",
    )

    @property
    def required(self) -> int:
        """How many answered questions give a respondent an index."""
        return self.min_answered or -(-len(self.questions) // 2)


class SurveySettings(_Strict):
    """Which survey question is the perceived-safety indicator, and how it is compared."""

    indicator: str = Field(description="the study indicator (family proportion) it measures")
    question: str = Field(min_length=1, description="the question code in survey.csv")
    unsafe_answers: tuple[int, ...] = Field(default=(3, 4), min_length=1)
    before: tuple[dt.date, ...] = Field(min_length=1, description="the waves before the measures")
    after: tuple[dt.date, ...] = Field(min_length=1, description="the waves after the measures")
    problems_index: ProblemsIndexSettings | None = None

    @field_validator("unsafe_answers")
    @classmethod
    def _on_the_scale(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(a not in (1, 2, 3, 4) for a in value):
            raise ValueError("unsafe answers must be codes 1-4 of the answer scale")
        return value


class InspectionSettings(_Strict):
    """The indicator the safety inspections (inspections.csv) report on."""

    indicator: str


class ActionPlanSettings(_Strict):
    """When the project started, and the follow-up horizons counted from it."""

    project_start: dt.date
    horizons_months: tuple[int, ...] = Field(default=(12, 24), min_length=1)

    @field_validator("horizons_months")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(h <= 0 for h in value):
            raise ValueError("horizons must be positive numbers of months")
        return value


class ProjectPeriod(_Strict):
    start: dt.date
    end: dt.date


class ReportInfo(_Strict):
    """What the funder's final report (slutrapport) says about the project itself.

    The report's own texts (background, aims, conclusions ...) are Markdown files
    in the study folder, one per report language.
    """

    title: str | None = Field(default=None, description="the project's name (default: title)")
    authors: tuple[str, ...] = Field(min_length=1)
    date: dt.date = Field(description="the date the report is signed off")
    funder: str = Field(min_length=1)
    registration_number: str | None = Field(
        default=None, description="the funder's registration number (diarienummer)"
    )
    coordinator: str = Field(min_length=1, description="the coordinating organisation")
    partners: tuple[str, ...] = ()
    project_period: ProjectPeriod
    headline_indicator: str | None = Field(
        default=None,
        description="the indicator the report leads with (default: the first count indicator)",
    )
    goal_share: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="the programme's goal: more than this share of each action plan's "
        "measures done or started",
    )
    texts: dict[Literal["sv", "en"], str] = Field(
        default_factory=lambda: dict(FINAL_REPORT_TEXTS),
        description="the Markdown file of the report's own texts per language, in the study folder",
    )

    @field_validator("texts")
    @classmethod
    def _plain_file_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value.values():
            if not re.fullmatch(r"[^/\\]+\.md", name) or name.startswith("."):
                raise ValueError(f"'{name}' must be the name of a .md file in the study folder")
        return value


class Study(_Strict):
    title: str
    synthetic: bool
    description: str | None = None
    municipalities: tuple[Municipality, ...] = Field(min_length=1)
    places: tuple[Place, ...] = Field(min_length=1)
    indicators: tuple[Indicator, ...] = Field(min_length=1)
    shocks: tuple[Shock, ...] = ()
    survey: SurveySettings | None = None
    inspections: InspectionSettings | None = None
    action_plan: ActionPlanSettings | None = None
    report: ReportInfo | None = None
    analysis: Analysis = Analysis()
    donor_pool: tuple[str, ...] = Field(
        default=(),
        description="control places used as a pool of comparison units for every target "
        "(placebo-in-space tests and drift-calibrated comparisons)",
    )

    # -- look-ups -----------------------------------------------------------
    def place(self, place_id: str) -> Place:
        """The place with this id."""
        for place in self.places:
            if place.id == place_id:
                return place
        raise KeyError(place_id)

    def indicator(self, indicator_id: str) -> Indicator:
        """The indicator with this id."""
        for indicator in self.indicators:
            if indicator.id == indicator_id:
                return indicator
        raise KeyError(indicator_id)

    def municipality(self, name: str) -> Municipality:
        """The municipality with this name."""
        for municipality in self.municipalities:
            if municipality.name == name:
                return municipality
        raise KeyError(name)

    def targets(self, municipality: str | None = None) -> list[Place]:
        """Target places, optionally of one municipality, in file order."""
        return [
            p
            for p in self.places
            if p.role == "target" and (municipality is None or p.municipality == municipality)
        ]

    @property
    def municipality_names(self) -> list[str]:
        return [m.name for m in self.municipalities]


def _location(study_raw: dict, loc: tuple) -> str:
    """Turn a pydantic location like ('places', 3, 'role') into 'places[3] (id=x).role'."""
    parts: list[str] = []
    node: object = study_raw
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, list) and key < len(node) and isinstance(node[key], dict):
                ident = node[key].get("id") or node[key].get("name")
                if ident is not None:
                    label += f" ({ident})"
            parts.append(label)
            node = node[key] if isinstance(node, list) and key < len(node) else None
        else:
            parts.append(("." if parts else "") + str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)


def load_study(folder: str | Path) -> Study:
    """Read and check ``study.yml`` in a study folder.

    Parameters
    ----------
    folder
        The study folder.

    Returns
    -------
    Study
        The validated, immutable study description.

    Raises
    ------
    ValidationError
        On a missing or unreadable file, a schema violation, or inconsistent
        references (unknown municipality, control that is not a control ...).
    """
    path = Path(folder) / STUDY_FILE
    name = str(path)
    if not path.is_file():
        raise ValidationError.single(name, "file not found")
    if (size := path.stat().st_size) > MAX_YAML_BYTES:
        raise ValidationError.single(
            name,
            f"the file is {size:,} bytes, more than a study description needs "
            f"(at most {MAX_YAML_BYTES:,})",
        )
    text = read_utf8(path, name)
    try:
        root, raw = parse_yaml(text)
    except YamlLimitError as exc:
        row = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise ValidationError.single(name, exc.message, row=row) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise ValidationError.single(name, f"not valid YAML: {exc}", row=row) from None
    except RecursionError:
        raise ValidationError.single(name, "nested too deeply to read") from None
    if not isinstance(raw, dict):
        raise ValidationError.single(name, "expected a mapping of study fields at the top level")

    lines = key_lines(root)
    try:
        study = Study.model_validate(raw)
    except PydanticValidationError as exc:
        problems = [
            Problem(
                name,
                f"{_location(raw, err['loc'])}: {err['msg']}",
                row=line_for(lines, err["loc"]),
                column=str(err["loc"][-1]) if err["loc"] else None,
            )
            for err in exc.errors()
        ]
        raise ValidationError(problems) from None

    problems = _cross_check(study, name, lines)
    if problems:
        raise ValidationError(problems)
    return study


def _cross_check(study: Study, name: str, lines: dict[tuple, int]) -> list[Problem]:
    """References between sections that a field-by-field schema cannot see."""
    problems: list[Problem] = []

    def add(loc: tuple, message: str) -> None:
        column = next((str(part) for part in reversed(loc) if isinstance(part, str)), None)
        problems.append(Problem(name, message, row=line_for(lines, loc), column=column))

    for section, key in (
        ("municipalities", "name"),
        ("municipalities", "kommunkod"),
        ("places", "id"),
        ("indicators", "id"),
        ("shocks", "id"),
    ):
        seen: set[str] = set()
        for i, item in enumerate(getattr(study, section)):
            value = getattr(item, key)
            if value in seen:
                add((section, i, key), f"duplicate {key} '{value}'")
            seen.add(value)
    # Each municipality's reports go to a folder made from its name: two names must not
    # share one (nor differ only in case, which some file systems do not tell apart).
    folders: dict[str, str] = {}
    for i, municipality in enumerate(study.municipalities):
        try:
            folder = folder_name(municipality.name, fallback=municipality.kommunkod).casefold()
        except PipelineError as exc:
            add(("municipalities", i, "name"), str(exc))
            continue
        if folder in folders and folders[folder] != municipality.name:
            add(
                ("municipalities", i, "name"),
                f"municipalities '{folders[folder]}' and '{municipality.name}' would share "
                "one report folder: give them names that differ in letters or digits",
            )
        folders.setdefault(folder, municipality.name)

    def repeated(loc: tuple, values: tuple, what: str) -> None:
        for j, value in enumerate(values):
            if value in values[:j]:
                add((*loc, j), f"{what}: '{value}' is listed twice")

    for i, place in enumerate(study.places):
        for key in ("controls", "buffer_controls"):
            repeated(("places", i, key), getattr(place, key), f"place '{place.id}' {key}")
    repeated(("donor_pool",), study.donor_pool, "donor_pool")
    if study.survey is not None:
        for key in ("before", "after", "unsafe_answers"):
            repeated(("survey", key), getattr(study.survey, key), f"survey {key}")
        index = study.survey.problems_index
        if index is not None:
            loc = ("survey", "problems_index")
            repeated((*loc, "questions"), index.questions, "survey problems_index questions")
            if study.survey.question in index.questions:
                add(
                    (*loc, "questions"),
                    f"survey problems_index: '{study.survey.question}' is the safety question, "
                    "not a problem question",
                )
            if index.min_answered is not None and index.min_answered > len(index.questions):
                add(
                    (*loc, "min_answered"),
                    f"survey problems_index: min_answered {index.min_answered} is more than the "
                    f"{len(index.questions)} questions",
                )
    if study.action_plan is not None:
        repeated(
            ("action_plan", "horizons_months"),
            study.action_plan.horizons_months,
            "action_plan horizons_months",
        )

    municipalities = set(study.municipality_names)
    roles = {p.id: p.role for p in study.places}
    for i, place in enumerate(study.places):
        loc = ("places", i)
        if place.municipality not in municipalities:
            add(
                (*loc, "municipality"),
                f"place '{place.id}': unknown municipality '{place.municipality}'",
            )
        if place.role == "target":
            if place.intervention_start is None:
                add((*loc, "intervention_start"), f"target '{place.id}' has no intervention_start")
        else:
            for field in ("intervention_start", "buffer"):
                if getattr(place, field) is not None:
                    add(
                        (*loc, field),
                        f"'{field}' is only for targets, but '{place.id}' is a {place.role}",
                    )
            for key in ("controls", "buffer_controls"):
                if getattr(place, key):
                    add(
                        (*loc, key),
                        f"'{key}' is only for targets, but '{place.id}' is a {place.role}",
                    )
        for key in ("controls", "buffer_controls"):
            for control in getattr(place, key):
                if control not in roles:
                    add((*loc, key), f"target '{place.id}': unknown control place '{control}'")
                elif roles[control] != "control":
                    add(
                        (*loc, key),
                        f"target '{place.id}': '{control}' is a {roles[control]}, not a control",
                    )
        if place.buffer_controls and place.buffer is None:
            add((*loc, "buffer_controls"), f"target '{place.id}' has buffer_controls but no buffer")
        if place.buffer is not None:
            if place.buffer not in roles:
                add((*loc, "buffer"), f"target '{place.id}': unknown buffer place '{place.buffer}'")
            elif roles[place.buffer] != "buffer":
                add(
                    (*loc, "buffer"),
                    f"target '{place.id}': '{place.buffer}' is a {roles[place.buffer]}, not a buffer",
                )
    for i, donor in enumerate(study.donor_pool):
        if donor not in roles:
            add(("donor_pool", i), f"donor_pool: unknown place '{donor}'")
        elif roles[donor] != "control":
            add(("donor_pool", i), f"donor_pool: '{donor}' is a {roles[donor]}, not a control")
    families = {i.id: i.family for i in study.indicators}
    for section, family in (("survey", "proportion"), ("inspections", "score")):
        settings = getattr(study, section)
        if settings is None:
            continue
        if settings.indicator not in families:
            add((section, "indicator"), f"{section}: unknown indicator '{settings.indicator}'")
        elif families[settings.indicator] != family:
            add(
                (section, "indicator"),
                f"{section}: indicator '{settings.indicator}' has family "
                f"'{families[settings.indicator]}', expected '{family}'",
            )
    index = study.survey.problems_index if study.survey is not None else None
    if index is not None:
        loc = ("survey", "problems_index", "indicator")
        if index.indicator not in families:
            add(loc, f"survey problems_index: unknown indicator '{index.indicator}'")
        elif families[index.indicator] != "continuous":
            add(
                loc,
                f"survey problems_index: indicator '{index.indicator}' has family "
                f"'{families[index.indicator]}', expected 'continuous'",
            )
    confirmatory = study.analysis.confirmatory
    named = [("indicator", confirmatory.indicator)] if confirmatory.indicator else []
    named += [("subcategories", s) for s in confirmatory.subcategories or ()]
    for key, indicator in named:
        loc = ("analysis", "confirmatory", key)
        if indicator not in families:
            add(loc, f"analysis.confirmatory: unknown indicator '{indicator}'")
        elif families[indicator] != "count":
            add(
                loc,
                f"analysis.confirmatory: indicator '{indicator}' has family "
                f"'{families[indicator]}', expected 'count'",
            )
    if confirmatory.indicator and confirmatory.indicator in (confirmatory.subcategories or ()):
        add(
            ("analysis", "confirmatory", "subcategories"),
            f"analysis.confirmatory: '{confirmatory.indicator}' is both primary and a subcategory",
        )
    if study.survey is not None:
        overlap = set(study.survey.before) & set(study.survey.after)
        if overlap:
            add(("survey", "after"), f"survey: wave {min(overlap)} is both before and after")
        elif max(study.survey.before) >= min(study.survey.after):
            add(
                ("survey", "after"), "survey: every 'after' wave must come after the 'before' waves"
            )
    if study.report is not None:
        period = study.report.project_period
        if period.end <= period.start:
            add(
                ("report", "project_period", "end"),
                "report: the project period ends before it starts",
            )
        headline = study.report.headline_indicator
        if headline is not None and headline not in families:
            add(("report", "headline_indicator"), f"report: unknown indicator '{headline}'")
    for i, shock in enumerate(study.shocks):
        if shock.end is not None and shock.end < shock.start:
            add(("shocks", i, "end"), f"shock '{shock.id}' ends before it starts")
    if not study.targets():
        problems.append(Problem(name, "the study has no target place"))
    return problems
