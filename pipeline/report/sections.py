"""Sections both reports share: banners, place and indicator names, change texts, provenance.

Each returns an object a notebook displays by itself (an :class:`Html` fragment or a DataFrame);
nothing here prints.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from ..designs.survey import ALL_TARGETS, reported_area_shares, survey_areas
from ..evaluation.study import Hypotheses, certainty
from ..format import number, p_value
from ..inputs.prepare import StudyData
from ..methods.implementation import implementation_shares
from ..methods.survey import share_unsafe
from ..run.provenance import code_version, package_versions, portable_path
from . import findings as key
from . import html as h
from .html import Html, heading, paragraph
from .i18n import t
from .style import TEXT_SIZES
from .words import goal_reached


def banner(data: StudyData, lang: str) -> Html:
    synthetic = h.banner(t("banner_synthetic", lang)) if data.study.synthetic else Html("")
    return h.join([synthetic, _input_warnings(data, lang)])


def _input_warnings(data: StudyData, lang: str) -> Html:
    """What validation stated about the input (an ignored column ...), so no report hides it."""
    stated = data.manifest.get("warnings") or []
    if not stated:
        return Html("")
    return h.details(t("input_warnings", lang), h.bullet_list(stated))


def figure_html(fig, alt: str, caption: str = "") -> Html:
    """A figure embedded with alternative text (see :func:`pipeline.report.html.figure`)."""
    return h.figure(fig, alt, caption=caption)


def place_name(data: StudyData, place_id: str, lang: str = "sv") -> str:
    # Municipality-level rows (the survey) have no place; read back from CSV they are NaN.
    if not isinstance(place_id, str) or place_id == ALL_TARGETS:
        return t("all_target_areas", lang)
    return data.study.place(place_id).name


def change_text(estimand: str, estimate: float, lang: str) -> str:
    """The estimate as a change a reader takes in: per cent, percentage points or points."""
    if estimate != estimate:
        return "–"
    if estimand == "rate_ratio":
        return f"{key.signed(100 * (estimate - 1), lang, 0)} %"
    if estimand in ("odds_ratio", "cumulative_odds_ratio"):
        return t("change_odds", lang, value=key.signed(100 * (estimate - 1), lang, 0))
    if estimand == "share_difference_pp":
        return t("change_pp", lang, value=key.signed(estimate, lang, 1))
    if estimand == "mean_score_change":
        return t("change_points", lang, value=key.signed(estimate, lang, 1))
    return "–"


def finding_place(data: StudyData, place_id, lang: str) -> str:
    """A finding's place: the place's name, or all targets for a municipality's panel row."""
    if isinstance(place_id, str) and place_id:
        return place_name(data, place_id, lang)
    return t("finding_all_targets", lang)


def indicator_label(data: StudyData, indicator_id: str, lang: str) -> str:
    indicator = data.study.indicator(indicator_id)
    return indicator.label_sv if lang == "sv" else indicator.label_en


def or_dash(value: float, text: str) -> str:
    return "–" if value != value else text  # NaN: not defined for this estimand


def certainty_key(family: str, p_adjusted: float, alpha: float = 0.05) -> str:
    """The string key of a row's certainty word, the same in every report."""
    word = certainty(family, p_adjusted, alpha)
    if word == "clear" and family == "secondary":
        return "certainty_clear_fdr"
    return {
        "clear": "certainty_clear",
        "uncertain": "certainty_unclear",
        "not_tested": "certainty_not_tested",
        "descriptive": "certainty_descriptive",
    }[word]


def localized_effects(
    data: StudyData,
    frame: pd.DataFrame,
    lang: str,
    *,
    with_municipality: bool = False,
    brief: bool = False,
    adjusted: bool = True,
) -> pd.DataFrame:
    """Effects as a reader sees them: names, labels, change, interval and p in the report language.

    ``brief`` keeps what a reader needs to read a result (place, indicator,
    change and its interval, p, its family with the adjusted p and the
    certainty word, design with its level of evidence) so the table fits a
    narrow screen; the full table adds the model's estimate, the minimum
    detectable decrease and the months used. Without ``adjusted`` (the
    study-level step has not run over these rows) the certainty says so.
    """
    alpha = Hypotheses.of(data.study).alpha

    def study_level(row) -> dict:
        p_adjusted = row.get("p_adjusted", float("nan"))
        word = (
            t(certainty_key(row.get("family") or "descriptive", p_adjusted, alpha), lang)
            if adjusted
            else t("certainty_not_adjusted", lang)
        )
        return {
            t("col_family", lang): t(f"family_{row.get('family') or 'unassigned'}", lang),
            t("col_p_adjusted", lang): p_value(p_adjusted, lang),
            t("col_certainty", lang): word,
        }

    rows = []
    for _, row in frame.iterrows():
        entry = {}
        if with_municipality:
            entry[t("col_municipality", lang)] = row["municipality"]
        ratio = row["estimand"] == "rate_ratio"
        entry.update(
            {
                t("col_place", lang): place_name(data, row["place_id"], lang),
                t("col_indicator", lang): indicator_label(data, row["indicator"], lang),
                t("col_change", lang): change_text(row["estimand"], row["estimate"], lang),
            }
        )
        if brief:
            entry[t("col_ci_change", lang)] = (
                key.interval_text(row["ci_low"], row["ci_high"], lang, ratio=True)
                if ratio
                else or_dash(
                    row["ci_low"], f"{number(row['ci_low'], lang)}–{number(row['ci_high'], lang)}"
                )
            )
            entry[t("col_p", lang)] = p_value(row["p_value"], lang)
            entry.update(study_level(row))
            entry[t("col_design", lang)] = t(
                "design_with_level",
                lang,
                design=t(f"design_{row['design']}", lang),
                level=int(row["sms_level"]),
            )
            rows.append(entry)
            continue
        entry.update(
            {
                t("col_design", lang): t(f"design_{row['design']}", lang),
                t("col_measure", lang): t(f"measure_{row['estimand']}", lang),
                t("col_estimate", lang): or_dash(row["estimate"], number(row["estimate"], lang)),
                t("col_ci", lang): or_dash(
                    row["ci_low"], f"{number(row['ci_low'], lang)}–{number(row['ci_high'], lang)}"
                ),
                t("col_p", lang): p_value(row["p_value"], lang),
                **study_level(row),
                t("col_sms", lang): int(row["sms_level"]),
                t("col_mde", lang): or_dash(
                    row["mde_decrease_pct"], f"{number(row['mde_decrease_pct'], lang, 0)} %"
                ),
                t("col_periods", lang): f"{int(row['n_pre'])}/{int(row['n_post'])}"
                if row["estimand"] not in _NOT_MONTHLY
                else "–",
            }
        )
        rows.append(entry)
    return pd.DataFrame(rows)


_NOT_MONTHLY = frozenset(
    {"odds_ratio", "cumulative_odds_ratio", "share_difference_pp", "mean_score_change"}
)


def implementation_table(shares: pd.DataFrame, municipality: str, lang: str) -> pd.DataFrame:
    """One municipality's implementation shares per horizon, as a reader sees them, against the
    programme's goal (more than half done or started)."""
    rows = []
    for row in shares[shares["municipality"] == municipality].itertuples(index=False):
        rows.append(
            {
                t("col_horizon", lang): int(row.horizon_months),
                t("col_implemented", lang): t("implemented_of", lang, k=int(row.k), n=int(row.n)),
                t("col_share", lang): or_dash(row.share, f"{number(100 * row.share, lang, 0)} %"),
                t("col_ci", lang): or_dash(
                    row.wilson_lower,
                    f"{number(100 * row.wilson_lower, lang, 0)}–{number(100 * row.wilson_upper, lang, 0)} % "
                    f"({number(100 * row.cp_lower, lang, 0)}–{number(100 * row.cp_upper, lang, 0)} %)",
                ),
                t("col_goal", lang): t(
                    "goal_reached"
                    if row.n and goal_reached(int(row.k), int(row.n))
                    else "goal_not_reached",
                    lang,
                ),
            }
        )
    return pd.DataFrame(rows)


def provenance_html(record: dict, lang: str) -> Html:
    code = record["code"]
    commit = (code.get("git_commit") or "–")[:12]
    dirty = t("provenance_dirty", lang) if code.get("git_dirty") else ""
    return h.render(
        "provenance",
        text=t(
            "provenance_text", lang, commit=commit, dirty=dirty, version=code["package_version"]
        ),
        inputs=[(Path(v["path"]).name, v["sha256"][:16]) for v in record["inputs"].values()],
        parameters=[(str(k), str(v)) for k, v in record.get("parameters", {}).items()],
        packages=", ".join(f"{k} {v}" for k, v in record["packages"].items()),
    )


def provenance_record(data: StudyData, parameters: dict) -> dict:
    """What a report was computed from; folders as :func:`portable_path` names them, so a
    report shows no path of the machine it was made on."""
    return {
        "study": data.name,
        "inputs": data.manifest["inputs"],
        "parameters": {k: _portable(v) for k, v in parameters.items()},
        "code": code_version(),
        "packages": package_versions(),
    }


def _portable(value):
    is_path = isinstance(value, str | Path) and Path(value).is_absolute()
    return portable_path(value) if is_path else value


#: Type large enough to read when a report's figure is shown 400 px wide (see :mod:`.style`).
FIGURE_STYLE = TEXT_SIZES

#: The glossary's terms, in the order a reader meets them.
GLOSSARY_TERMS = (
    "confidence_interval",
    "p_value",
    "family",
    "expected",
    "comparison_area",
    "donor_pool",
    "buffer",
    "maryland",
    "mde",
    "percentage_points",
    "fake_starts",
)


def reading_guide(data: StudyData, lang: str) -> Html:
    """How to read a report: the fixed words of the key findings, then the glossary."""
    indicator = indicator_label(data, key.confirmatory_indicator(data.study), lang)
    definitions = [
        t("verdict_definition_clear", lang),
        t("verdict_definition_likely", lang),
        t("verdict_definition_none", lang),
        t("goal_definition", lang),
    ]
    return h.join(
        [
            paragraph(t("how_to_read_intro", lang)),
            paragraph(t("confirmatory_definition", lang, indicator=indicator)),
            h.bullet_list(definitions),
            heading(t("section_glossary", lang), 3, "glossary"),
            h.glossary(
                [(t(f"glossary_{k}", lang), t(f"glossary_{k}_text", lang)) for k in GLOSSARY_TERMS]
            ),
        ]
    )


def survey_shares(data: StudyData, municipality: str, lang: str):
    """A municipality's weighted shares unsafe per area and wave, areas named as a reader names
    them; None without a survey for it."""
    if data.study.survey is None:
        return None
    if data.survey is None:
        shares = reported_area_shares(data, municipality)
        if shares is None:
            return None
    else:
        frame = survey_areas(data, municipality)
        if frame.empty:
            return None
        settings = data.study.survey
        shares = share_unsafe(
            frame, question=settings.question, by="area", unsafe=settings.unsafe_answers
        )
    label = {a: t(f"area_{a}", lang) for a in ("target", "comparison")}
    return replace(shares, table=shares.table.assign(area=shares.table["area"].map(label)))


def survey_change_text(shares, lang: str) -> str:
    """Share unsafe in each area, first wave to last, and the change in percentage points."""
    if shares is None:
        return ""
    parts = []
    table = shares.table.sort_values("wave")
    for area in (t("area_target", lang), t("area_comparison", lang)):  # target areas first
        rows = table[table["area"] == area]
        if rows.empty:
            continue
        first, last = rows.iloc[0], rows.iloc[-1]
        if first["suppressed"] or last["suppressed"] or len(rows) < 2:
            continue  # a suppressed cell's share is withheld
        parts.append(
            t(
                "survey_change_sentence",
                lang,
                area=area,
                before=number(100 * first["share"], lang, 1),
                after=number(100 * last["share"], lang, 1),
                change=key.change_words(
                    "share_difference_pp", 100 * (last["share"] - first["share"]), lang
                ),
            )
        )
    return key.keep_together(" ".join(parts))


def implementation_alt(rows: pd.DataFrame, labels: list[str], lang: str) -> str:
    items = "; ".join(
        f"{label} {number(100 * share, lang, 0)} %"
        for label, share in zip(labels, rows["share"], strict=True)
    )
    return t("alt_implementation_shares", lang, items=items)


def contents(sections: tuple[str, ...], lang: str, links=(), links_label: str = "") -> Html:
    return h.toc(
        t("section_contents", lang),
        [(name, t(name, lang)) for name in sections],
        links_label=links_label,
        links=links,
    )


def key_findings_box(groups: list[key.FindingGroup], data: StudyData, lang: str) -> Html:
    return h.render(
        "key_findings",
        title=t("key_findings_title", lang),
        groups=groups,
        legend=t("key_findings_legend", lang),
    )


def study_implementation_shares(data: StudyData) -> pd.DataFrame | None:
    settings = data.study.action_plan
    if data.actions is None or settings is None:
        return None
    return implementation_shares(
        data.actions,
        project_start=settings.project_start,
        horizons_months=settings.horizons_months,
    ).table
