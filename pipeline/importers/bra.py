"""Brå statistics-database exports ("Databasfil") → municipality series.

The export is read by :mod:`pipeline.inputs.bra` (its quirks are listed there). The
chosen crime categories become indicators of the study, and each chosen
municipality a place, one row per month in ``series.csv``. When the export
carries rates per 100,000 inhabitants, the municipality's population is the
exposure: per year, the median over its months of ``Antal / rate × 100 000``
in the total-crime category (the largest counts give the most precise
population), else in the category itself (:func:`pipeline.inputs.bra.population_from_rates`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import Problem, ValidationError
from pipeline.inputs.bra import TOTAL, population_from_rates, read_bra_export, read_bra_folder
from pipeline.inputs.study import STUDY_FILE, load_study

from .record import ImportResult, merged_series

IMPORTER = "import-bra"
MUNICIPALITY_SUFFIX = " kommun"


def read_sources(sources: list[str | Path]) -> tuple[pd.DataFrame, list[Path]]:
    """Read Brå exports given as files or folders (``Databasfil*.txt`` in a folder).

    Returns
    -------
    frame : pandas.DataFrame
        The rows of :func:`pipeline.inputs.bra.read_bra_folder`, one per key; a
        final figure wins over a preliminary one.
    files : list of Path
        Every file read.
    """
    frames = []
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            matched = sorted(p for p in path.glob("Databasfil*.txt") if p.is_file())
            frames.append(read_bra_folder(path))
            files.extend(matched)
        elif path.is_file():
            frames.append(read_bra_export(path))
            files.append(path)
        else:
            raise ValidationError.single(path, "file or folder not found")
    frame = pd.concat(frames, ignore_index=True)
    # Several sources may overlap: keep one row per key, final before preliminary.
    frame = frame.sort_values(["municipality", "category", "period", "preliminary"], kind="stable")
    frame = frame.drop_duplicates(["municipality", "category", "period"], keep="first")
    return frame.reset_index(drop=True), files


def import_bra(
    study_dir: str | Path,
    sources: list[str | Path],
    *,
    categories: list[tuple[str, str]],
    places: list[tuple[str, str]] | None = None,
    exposure: str = "auto",
) -> ImportResult:
    """Municipality series from Brå exports, merged into the study's ``series.csv``.

    Parameters
    ----------
    study_dir : str or Path
        The study folder; ``study.yml`` must name the indicators and places.
    sources : list of str or Path
        Export files, or folders of ``Databasfil*.txt`` exports.
    categories : list of (str, str)
        Brå category -> indicator id (family ``count``).
    places : list of (str, str), optional
        Place id -> municipality name as Brå writes it (with or without
        " kommun"). Places not listed are matched by name when their
        ``name`` is a municipality of the export.
    exposure : {"auto", "population", "none"}
        ``auto`` uses the population when the export carries rates for every
        month, ``population`` requires it, ``none`` writes no exposure.

    Returns
    -------
    ImportResult
        The new ``series.csv``.

    Raises
    ------
    ValidationError
        Unknown indicators, places or categories, a municipality missing from
        the export, a month Brå suppressed (``..``), a gap in a series, or no
        population where one is required.
    """
    if exposure not in ("auto", "population", "none"):
        raise ValueError(f"exposure must be auto, population or none, got {exposure!r}")
    study_dir = Path(study_dir)
    study = load_study(study_dir)
    yml = str(study_dir / STUDY_FILE)
    frame, files = read_sources(sources)
    problems: list[Problem] = []

    known_categories = sorted(frame["category"].unique())
    indicators = {i.id: i for i in study.indicators}
    for category, indicator in categories:
        if category not in known_categories:
            problems.append(
                Problem(
                    "--category",
                    f"category '{category}' is not in the export (it has: "
                    f"{', '.join(known_categories)})",
                )
            )
        if indicator not in indicators:
            problems.append(Problem(yml, f"no indicator '{indicator}' (--category {category})"))
        elif indicators[indicator].family != "count":
            problems.append(
                Problem(
                    yml,
                    f"indicator '{indicator}' has family {indicators[indicator].family}, "
                    "but Brå's figures are counts",
                )
            )

    municipalities = {m.casefold(): m for m in frame["municipality"].unique()}
    mapping = _place_mapping(study, places or [], municipalities, yml, problems)
    if not categories:
        problems.append(Problem("--category", "give at least one Brå category=indicator"))
    if not mapping:
        problems.append(
            Problem(
                "--place",
                "no place to import: give --place PLACE_ID=MUNICIPALITY, or name a place of "
                "study.yml after a municipality of the export",
            )
        )
    if problems:
        raise ValidationError(problems)

    chosen = frame[
        frame["municipality"].isin(mapping.values())
        & frame["category"].isin([c for c, _ in categories])
    ]
    population = _population(frame, chosen)
    rows = []
    for place_id, municipality in mapping.items():
        for category, indicator in categories:
            series = chosen[
                (chosen["municipality"] == municipality) & (chosen["category"] == category)
            ].sort_values("period")
            problems += _series_problems(series, municipality, category, files)
            rows.append(series.assign(place_id=place_id, indicator=indicator))
    if problems:
        raise ValidationError(problems)
    new = pd.concat(rows, ignore_index=True)
    new["year"] = new["period"].dt.year
    new = new.merge(population, on=["municipality", "year"], how="left")
    use_population, notes = _exposure_choice(new, exposure)
    new["exposure"] = new["population"].astype(float) if use_population else np.nan
    new["value"] = new["count"].astype(float)
    new["period"] = new["period"].astype(str)
    content, replaced = merged_series(study_dir, new)
    n_prelim = int(new["preliminary"].sum())
    if n_prelim:
        months = sorted(new.loc[new["preliminary"], "period"].unique())
        notes.append(
            f"{n_prelim} rows are Brå's preliminary figures ({months[0]} to {months[-1]}); "
            "import the final export when Brå publishes it"
        )
    if replaced:
        notes.append(f"replaced {replaced} rows of series.csv for the same places and indicators")
    notes.append(
        f"{len(new)} rows: {len(mapping)} places × {len(categories)} categories, "
        f"{new['period'].min()} to {new['period'].max()}"
    )
    return ImportResult(
        importer=IMPORTER,
        outputs={"series.csv": content},
        sources=tuple(files),
        parameters={
            "categories": dict(categories),
            "places": mapping,
            "exposure": "population" if use_population else "none",
        },
        notes=tuple(notes),
    )


def _place_mapping(study, places, municipalities, yml, problems) -> dict[str, str]:
    """Place id -> municipality name as in the export."""
    ids = {p.id: p for p in study.places}
    mapping: dict[str, str] = {}
    for place_id, name in places:
        key = _strip_suffix(name).casefold()
        if place_id not in ids:
            problems.append(Problem(yml, f"no place '{place_id}' (--place {place_id}={name})"))
        elif key not in municipalities:
            problems.append(
                Problem(
                    "--place",
                    f"municipality '{name}' is not in the export (--place {place_id}={name})",
                )
            )
        else:
            mapping[place_id] = municipalities[key]
    if not places:
        for place in study.places:
            key = _strip_suffix(place.name).casefold()
            if key in municipalities:
                mapping[place.id] = municipalities[key]
    return mapping


def _strip_suffix(name: str) -> str:
    name = name.strip()
    return name[: -len(MUNICIPALITY_SUFFIX)] if name.endswith(MUNICIPALITY_SUFFIX) else name


def _series_problems(series: pd.DataFrame, municipality, category, files) -> list[Problem]:
    source = str(files[0].parent) if len(files) > 1 else str(files[0])
    problems = []
    if series.empty:
        return [Problem(source, f"no rows for {municipality}, category '{category}'")]
    suppressed = series.loc[series["count"].isna(), "period"]
    for period in suppressed:
        problems.append(
            Problem(
                source,
                f"{municipality}, '{category}', {period}: Brå suppressed the count ('..'); "
                "a series cannot have a missing month (choose another category or period)",
                column="Antal",
            )
        )
    expected = pd.period_range(series["period"].min(), series["period"].max(), freq="M")
    lacking = expected.difference(pd.PeriodIndex(series["period"]))
    if len(lacking):
        problems.append(
            Problem(
                source,
                f"{municipality}, '{category}': months missing from the exports: "
                f"{', '.join(str(p) for p in lacking[:12])}{' …' if len(lacking) > 12 else ''}",
            )
        )
    return problems


def _population(frame: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Each chosen municipality's population per year, from the total-crime rates where present."""
    pieces = []
    for municipality in chosen["municipality"].unique():
        rows = frame[frame["municipality"] == municipality]
        total = rows[rows["category"] == TOTAL]
        source = total if total["rate_per_100k"].notna().any() else rows
        estimate = population_from_rates(source, category=None)
        pieces.append(estimate[["municipality", "year", "population"]])
    return pd.concat(pieces, ignore_index=True)


def _exposure_choice(new: pd.DataFrame, exposure: str) -> tuple[bool, list[str]]:
    if exposure == "none":
        return False, ["no exposure written (--exposure none)"]
    lacking = new["population"].isna()
    if not lacking.any():
        return True, [
            "exposure: population per year estimated from Brå's counts and rates per 100,000 "
            "(median over the year's months)"
        ]
    years = sorted(
        {f"{m} {y}" for m, y in new.loc[lacking, ["municipality", "year"]].itertuples(index=False)}
    )
    if exposure == "population":
        raise ValidationError.single(
            "--exposure",
            "the export carries no rates to estimate the population for "
            f"{', '.join(years)}; export with '/100 000 inv' or use --exposure none",
        )
    return False, [f"no exposure: the export carries no rates for {', '.join(years)}"]
