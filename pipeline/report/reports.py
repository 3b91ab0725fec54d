"""What the notebooks display: report sections built from results, in one language.

The notebooks stay thin: a parameters cell, then one call per section. Every
section returns an object a notebook displays by itself (an :class:`Html`
fragment, a DataFrame or a matplotlib figure), and nothing here prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from ..designs.survey import ALL_TARGETS, survey_areas
from ..evaluation.municipality import (
    MunicipalityEvaluation,
    evaluate_municipality,
    evaluate_target,
    municipality_panel,
)
from ..evaluation.study import RATIO_ESTIMANDS, assign_families, certainty, study_results
from ..format import number, p_text, p_value
from ..inputs.prepare import StudyData, load_processed
from ..methods.implementation import TOTAL, implementation_shares, implementation_vs_effect
from ..methods.inspection import inspection_change
from ..methods.survey import share_unsafe
from ..outputs import read_csv, write_csv
from ..results import EFFECT_COLUMNS, POOLED_COLUMNS, effects_frame
from ..run.paths import (
    EFFECTS_FILE,
    POOLED_FILE,
    PROVENANCE_FILE,
    RUN_STATUS_FILE,
    STUDY_PROVENANCE_FILE,
    folder_name,
)
from ..run.provenance import code_version, package_versions
from . import findings as key
from . import html as h
from .figures import plot_cumulative_difference, plot_effect
from .figures_outcomes import (
    plot_action_timeline,
    plot_implementation_shares,
    plot_inspection,
    plot_shares,
)
from .html import Html, details, heading, paragraph, table
from .i18n import check_language, t
from .style import use_report_style
from .words import goal_reached

__all__ = ["EFFECTS_FILE", "POOLED_FILE", "PROVENANCE_FILE", "RATIO_ESTIMANDS"]


def _banner(data: StudyData, lang: str) -> Html:
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


def _place_name(data: StudyData, place_id: str, lang: str = "sv") -> str:
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


def _finding_place(data: StudyData, place_id, lang: str) -> str:
    """A finding's place: the place's name, or all targets for a municipality's panel row."""
    if isinstance(place_id, str) and place_id:
        return _place_name(data, place_id, lang)
    return t("finding_all_targets", lang)


def _indicator_label(data: StudyData, indicator_id: str, lang: str) -> str:
    indicator = data.study.indicator(indicator_id)
    return indicator.label_sv if lang == "sv" else indicator.label_en


def _maybe(value: float, text: str) -> str:
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
) -> pd.DataFrame:
    """Effects as a reader sees them: names, labels, change, interval and p in the report language.

    ``brief`` keeps what a reader needs to read a result (place, indicator,
    change and its interval, p, design with its level of evidence) so the table
    fits a narrow screen; the full table adds the model's estimate, the minimum
    detectable decrease and the months used.
    """
    rows = []
    for _, row in frame.iterrows():
        entry = {}
        if with_municipality:
            entry[t("col_municipality", lang)] = row["municipality"]
        ratio = row["estimand"] == "rate_ratio"
        entry.update(
            {
                t("col_place", lang): _place_name(data, row["place_id"], lang),
                t("col_indicator", lang): _indicator_label(data, row["indicator"], lang),
                t("col_change", lang): change_text(row["estimand"], row["estimate"], lang),
            }
        )
        if brief:
            entry[t("col_ci_change", lang)] = (
                key.interval_text(row["ci_low"], row["ci_high"], lang, ratio=True)
                if ratio
                else _maybe(
                    row["ci_low"], f"{number(row['ci_low'], lang)}–{number(row['ci_high'], lang)}"
                )
            )
            entry[t("col_p", lang)] = p_value(row["p_value"], lang)
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
                t("col_estimate", lang): _maybe(row["estimate"], number(row["estimate"], lang)),
                t("col_ci", lang): _maybe(
                    row["ci_low"], f"{number(row['ci_low'], lang)}–{number(row['ci_high'], lang)}"
                ),
                t("col_p", lang): p_value(row["p_value"], lang),
                t("col_family", lang): t(f"family_{row.get('family') or 'unassigned'}", lang),
                t("col_p_adjusted", lang): p_value(row.get("p_adjusted", float("nan")), lang),
                t("col_sms", lang): int(row["sms_level"]),
                t("col_mde", lang): _maybe(
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
                t("col_share", lang): _maybe(row.share, f"{number(100 * row.share, lang, 0)} %"),
                t("col_ci", lang): _maybe(
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


def _provenance_record(data: StudyData, parameters: dict) -> dict:
    return {
        "study": data.name,
        "inputs": data.manifest["inputs"],
        "parameters": parameters,
        "code": code_version(),
        "packages": package_versions(),
    }


#: Type large enough to read when a report's figure is shown 400 px wide.
FIGURE_STYLE = {"font.size": 11, "axes.titlesize": 12, "legend.fontsize": 10}

#: The glossary's terms, in the order a reader meets them.
GLOSSARY_TERMS = (
    "confidence_interval",
    "p_value",
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
    indicator = _indicator_label(data, key.confirmatory_indicator(data.study), lang)
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
    if data.survey is None or data.study.survey is None:
        return None
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


def _implementation_alt(rows: pd.DataFrame, labels: list[str], lang: str) -> str:
    items = "; ".join(
        f"{label} {number(100 * share, lang, 0)} %"
        for label, share in zip(labels, rows["share"], strict=True)
    )
    return t("alt_implementation_shares", lang, items=items)


def _contents(sections: tuple[str, ...], lang: str, links=(), links_label: str = "") -> Html:
    return h.toc(
        t("section_contents", lang),
        [(name, t(name, lang)) for name in sections],
        links_label=links_label,
        links=links,
    )


def _key_findings(groups: list[key.FindingGroup], data: StudyData, lang: str) -> Html:
    return h.render(
        "key_findings",
        title=t("key_findings_title", lang),
        groups=groups,
        legend=t("key_findings_legend", lang),
    )


def _implementation_table(data: StudyData) -> pd.DataFrame | None:
    settings = data.study.action_plan
    if data.actions is None or settings is None:
        return None
    return implementation_shares(
        data.actions,
        project_start=settings.project_start,
        horizons_months=settings.horizons_months,
    ).table


@dataclass(frozen=True)
class MunicipalityReport:
    """The sections of one municipality's evaluation report."""

    data: StudyData
    municipality: str
    lang: str
    evaluation: MunicipalityEvaluation
    parameters: dict = field(default_factory=dict)

    #: The sections in the order the notebook shows them; the contents list them.
    SECTIONS = (
        "section_how_to_read",
        "section_places",
        "section_results",
        "section_figures",
        "section_survey",
        "section_inspection",
        "section_action_plan",
        "section_displacement",
        "section_all_designs",
        "section_skipped",
        "section_methods",
        "section_provenance",
    )

    @classmethod
    def build(cls, processed_dir: str, municipality: str, lang: str = "sv") -> MunicipalityReport:
        check_language(lang)
        use_report_style()
        data = load_processed(processed_dir)
        evaluation = evaluate_municipality(data, municipality)
        parameters = {"processed_dir": processed_dir, "municipality": municipality, "lang": lang}
        return cls(data, municipality, lang, evaluation, parameters)

    def title(self) -> str:
        """The page's title."""
        return t("municipality_title", self.lang, municipality=self.municipality)

    def header(self) -> Html:
        """Title, the synthetic-data banner, the key findings and the contents: the first screen."""
        lang = self.lang
        return h.join(
            [
                _banner(self.data, lang),
                heading(self.title(), 1, "top"),
                paragraph(f"{t('study_label', lang)}: {self.data.study.title}"),
                self.key_findings(),
                _contents(
                    self.SECTIONS,
                    lang,
                    links=[("../comparative_report.html", t("back_to_comparative", lang))],
                    links_label=t("see_also", lang),
                ),
            ]
        )

    def section(self, name: str) -> Html:
        """A section's heading, anchored for the contents."""
        if name not in self.SECTIONS:
            raise KeyError(f"'{name}' is not a section of the municipality report")
        return heading(t(name, self.lang), 2, name)

    def reading_guide(self) -> Html:
        return reading_guide(self.data, self.lang)

    @cached_property
    def confirmatory_family(self) -> pd.DataFrame:
        """The study's confirmatory family, adjusted exactly as the study-level step adjusts it.

        The family is each municipality's primary outcome and the programme's pooled
        one (:mod:`pipeline.evaluation.study`). The other municipalities are
        evaluated for the confirmatory indicator only (their targets and the panel
        of their targets), so this report's words agree with the comparative
        report's, word for word.
        """
        indicator = key.confirmatory_indicator(self.data.study)
        if indicator is None:
            return key.confirmatory_rows(pd.DataFrame(columns=[*EFFECT_COLUMNS, "p_adjusted"]))
        available = set(
            zip(self.data.series["place_id"], self.data.series["indicator"], strict=True)
        )
        frames = [self.evaluation.to_frame()]
        for municipality in self.data.study.municipality_names:
            if municipality == self.municipality:
                continue
            found: list = []
            for place in self.data.study.targets(municipality):
                if (place.id, indicator) in available:
                    found.extend(evaluate_target(self.data, place, indicator)[0])
            found.extend(
                municipality_panel(
                    self.data, municipality, available, [], indicators=[indicator], pooled=False
                )
            )
            frames.append(effects_frame(found))
        effects = pd.concat([f for f in frames if not f.empty], ignore_index=True)
        effects = effects[effects["indicator"] == indicator].reset_index(drop=True)
        results = study_results(self.data, effects, self.data.study.municipality_names)
        return key.confirmatory_rows(results.effects)

    def key_findings(self) -> Html:
        """The municipality's confirmatory outcome at each target and its action plan, in words."""
        lang = self.lang
        indicator = key.confirmatory_indicator(self.data.study)
        findings = key.municipality_findings(
            self.municipality,
            self.confirmatory_family,
            _implementation_table(self.data),
            lambda place_id: _finding_place(self.data, place_id, lang),
            lang,
        )
        group = key.FindingGroup(
            t(
                "municipality_findings_heading",
                lang,
                municipality=self.municipality,
                indicator=_indicator_label(self.data, indicator, lang),
            ),
            findings,
        )
        return _key_findings([group], self.data, lang)

    def places_table(self) -> pd.DataFrame:
        lang = self.lang
        rows = []
        for place in self.data.study.places:
            if place.municipality != self.municipality:
                continue
            rows.append(
                {
                    t("col_place", lang): place.name,
                    t("col_role", lang): t(f"role_{place.role}", lang),
                    t("col_start", lang): place.intervention_start.isoformat()
                    if place.intervention_start
                    else "",
                    t("col_controls", lang): ", ".join(
                        _place_name(self.data, c) for c in place.controls
                    ),
                    t("col_buffer", lang): _place_name(self.data, place.buffer)
                    if place.buffer
                    else "",
                }
            )
        return pd.DataFrame(rows)

    def co_interventions(self) -> Html:
        notes = [
            t(
                "co_intervention_note",
                self.lang,
                description=c.description,
                start=c.start.isoformat(),
            )
            for p in self.data.study.targets(self.municipality)
            for c in p.co_interventions
        ]
        unique = list(dict.fromkeys(notes))
        return h.join(paragraph(n, "note") for n in unique)

    @cached_property
    def effects(self) -> pd.DataFrame:
        """The municipality's effects with the family each p-value belongs to."""
        return assign_families(self.evaluation.to_frame(), self.data.study)

    def results_table(self, *, primary_only: bool = True) -> pd.DataFrame:
        """The primary estimates in brief, or every estimate in full."""
        frame = self.effects
        if primary_only:
            frame = frame[frame["primary"].astype(bool)].reset_index(drop=True)
        if primary_only:  # buffers are the displacement check, shown in their own section
            buffers = {p.id for p in self.data.study.places if p.role == "buffer"}
            frame = frame[~frame["place_id"].isin(buffers)]
        return localized_effects(self.data, frame, self.lang, brief=primary_only)

    def displacement(self):
        """Buffer zones: the buffer's comparison, the WDD test and the WDQ, per target."""
        frame = self.effects
        buffers = {p.buffer for p in self.data.study.targets(self.municipality) if p.buffer}
        rows = frame[frame["design"].isin(["wdd", "wdq"]) | frame["place_id"].isin(buffers)]
        if rows.empty:
            return paragraph(t("no_buffers", self.lang))
        return table(localized_effects(self.data, rows, self.lang, brief=True))

    def figures(self, indicator: str | None = None) -> list[Html]:
        """One figure per target: observed and expected counts with the expected band, then the
        crimes fewer than expected added up since the start, with their interval."""
        lang = self.lang
        indicator = indicator or key.confirmatory_indicator(self.data.study)
        label = _indicator_label(self.data, indicator, lang)
        figures = []
        for place in self.data.study.targets(self.municipality):
            try:
                effect = self.evaluation.effect(place.id, indicator)
            except KeyError:
                continue
            design = t("design_" + effect.design, lang)
            start = pd.Period(place.intervention_start, freq="M")
            with plt.rc_context(FIGURE_STYLE):
                fig, (top, bottom) = plt.subplots(
                    2, 1, figsize=(7, 6.4), height_ratios=(3, 2), layout="constrained"
                )
                plot_effect(
                    effect=effect,
                    start=start,
                    shocks=self.data.study.shocks,
                    title=f"{place.name} – {label}",
                    lang=lang,
                    ax=top,
                )
                plot_cumulative_difference(effect=effect, start=start, lang=lang, ax=bottom)
                bottom.set_xlim(top.get_xlim())
            alt = t(
                "alt_effect",
                lang,
                place=place.name,
                indicator=label,
                design=design,
                start=place.intervention_start.isoformat()[:7],
                change=change_text(effect.estimand, effect.estimate, lang),
                interval=key.interval_text(effect.ci_low, effect.ci_high, lang, ratio=True),
            )
            figures.append(figure_html(fig, alt, caption=f"{place.name}: {design}."))
        return figures

    def _survey_shares(self):
        return survey_shares(self.data, self.municipality, self.lang)

    def survey_table(self) -> pd.DataFrame:
        """Share unsafe per area and wave; a suppressed cell shows neither its size nor its share."""
        lang = self.lang
        shares = self._survey_shares()
        if shares is None:
            return pd.DataFrame()
        rows = []
        for row in shares.table.itertuples(index=False):
            flag = ""
            if row.suppressed:
                flag = t("flag_suppressed", lang)
            elif row.unreliable:
                flag = t("flag_unreliable", lang)
            rows.append(
                {
                    t("col_area", lang): row.area,
                    t("col_wave", lang): pd.Timestamp(row.wave).date().isoformat(),
                    # The exact size of a suppressed cell is itself withheld.
                    t("col_respondents", lang): "< 5" if row.suppressed else str(int(row.n)),
                    t("col_share_unsafe", lang): _maybe(
                        row.share, f"{number(100 * row.share, lang, 1)} %"
                    ),
                    t("col_ci", lang): _maybe(
                        row.ci_lower,
                        f"{number(100 * row.ci_lower, lang, 1)}–"
                        f"{number(100 * row.ci_upper, lang, 1)} %",
                    ),
                    t("col_flag", lang): flag,
                }
            )
        return pd.DataFrame(rows)

    def survey_sentence(self) -> Html:
        """The share unsafe in target and comparison areas, first wave to last, in percentage points."""
        text = survey_change_text(self._survey_shares(), self.lang)
        return paragraph(text) if text else Html("")

    def perceived_safety(self) -> list:
        """Share unsafe per area and wave in words, a table and a figure, then the estimates."""
        lang, data = self.lang, self.data
        shares = self._survey_shares()
        if shares is None:
            return [paragraph(t("no_survey", lang))]
        settings = data.study.survey
        with plt.rc_context(FIGURE_STYLE):
            fig, _ = plot_shares(
                shares, title=_indicator_label(data, settings.indicator, lang), lang=lang
            )
        estimates = self.effects
        estimates = estimates[estimates["indicator"] == settings.indicator]
        return [
            paragraph(t("survey_intro", lang)),
            self.survey_sentence(),
            table(self.survey_table()),
            figure_html(fig, t("alt_survey", lang, municipality=self.municipality)),
            paragraph(t("survey_estimates_intro", lang)),
            table(localized_effects(data, estimates, lang, brief=True)),
        ]

    def inspections(self) -> list:
        """Each inspected target's nine aspects before and after, with the exact test."""
        lang, data = self.lang, self.data
        inspected = set(data.inspections["place_id"]) if data.inspections is not None else set()
        places = [p for p in data.study.targets(self.municipality) if p.id in inspected]
        if not places:
            return [paragraph(t("no_inspection", lang))]
        parts: list = [paragraph(t("inspection_intro", lang))]
        for place in places:
            change = inspection_change(data.inspections, place_id=place.id)
            caption = t(
                "inspection_caption",
                lang,
                place=place.name,
                before=change.total_before,
                after=change.total_after,
                max=change.max_total,
                change=key.signed(change.mean_change, lang, 1),
                low=number(change.ci_low, lang, 1),
                high=number(change.ci_high, lang, 1),
                p=p_text(change.permutation_p, lang),
            )
            with plt.rc_context(FIGURE_STYLE):
                fig, _ = plot_inspection(change, title=place.name, lang=lang)
            if change.ci_low > 0:
                caption += " " + t("inspection_better", lang)
            elif change.ci_high < 0:
                caption += " " + t("inspection_worse", lang)
            else:
                caption += " " + t("inspection_unclear", lang)
            alt = t("alt_inspection", lang, place=place.name) + " " + caption
            parts += [figure_html(fig, alt), paragraph(caption)]
        return parts

    def action_plan(self) -> list:
        """Implementation share at each horizon, and the timeline of the measures."""
        lang, data = self.lang, self.data
        settings = data.study.action_plan
        if data.actions is None or settings is None:
            return [paragraph(t("no_action_plan", lang))]
        actions = data.actions[data.actions["municipality"] == self.municipality]
        if actions.empty:
            return [paragraph(t("no_action_plan", lang))]
        shares = implementation_shares(
            actions,
            project_start=settings.project_start,
            horizons_months=settings.horizons_months,
        )
        shares_table = implementation_table(shares.table, self.municipality, lang)
        rows = shares.table[shares.table["municipality"] == self.municipality]
        labels = [t("horizon_label", lang, months=int(m)) for m in rows["horizon_months"]]
        with plt.rc_context(FIGURE_STYLE):
            goal_fig, _ = plot_implementation_shares(rows, labels=labels, lang=lang)
            fig, _ = plot_action_timeline(
                actions,
                project_start=settings.project_start,
                horizons_months=settings.horizons_months,
                municipality=self.municipality,
                title=t("section_action_plan", lang),
                lang=lang,
            )
        return [
            paragraph(t("action_plan_intro", lang)),
            table(shares_table),
            figure_html(goal_fig, _implementation_alt(rows, labels, lang)),
            figure_html(
                fig,
                t(
                    "alt_timeline",
                    lang,
                    municipality=self.municipality,
                    n=actions["measure_id"].nunique(),
                ),
            ),
        ]

    def skipped_table(self) -> Html:
        if not self.evaluation.skipped:
            return paragraph(t("nothing_skipped", self.lang))
        return table(
            pd.DataFrame(
                [
                    {
                        t("col_place", self.lang): _place_name(self.data, s.place_id, self.lang),
                        t("col_indicator", self.lang): _indicator_label(
                            self.data, s.indicator, self.lang
                        ),
                        t("col_design", self.lang): t(f"design_{s.design}", self.lang),
                        t("col_reason", self.lang): s.reason,
                    }
                    for s in self.evaluation.skipped
                ]
            )
        )

    def methods(self) -> Html:
        # The displacement design reports its buffer comparison, WDD and WDQ as separate rows.
        alias = {"wdd": "displacement", "wdq": "displacement"}
        used = dict.fromkeys(alias.get(e.design, e.design) for e in self.evaluation.effects)
        parts = [paragraph(t("method_" + d, self.lang)) for d in used]
        parts.append(paragraph(t("primary_rule", self.lang)))
        return h.join(parts)

    def write_outputs(self, output_dir: str) -> Path:
        """Write ``effects.csv`` and its provenance into ``output_dir``."""
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        # The family is known here; the adjusted p-values come from the study-level step,
        # which rewrites this file with them.
        write_csv(self.effects[EFFECT_COLUMNS], out / EFFECTS_FILE)
        record = _provenance_record(self.data, self.parameters)
        (out / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return out / EFFECTS_FILE

    def provenance(self) -> Html:
        return provenance_html(_provenance_record(self.data, self.parameters), self.lang)


@dataclass(frozen=True)
class ComparativeReport:
    """The sections of the comparative report across municipalities."""

    data: StudyData
    lang: str
    effects: pd.DataFrame
    status: pd.DataFrame
    parameters: dict = field(default_factory=dict)
    pooled: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=POOLED_COLUMNS))
    problems: tuple[str, ...] = ()
    alpha: float = 0.05

    @classmethod
    def build(cls, processed_dir: str, reports_dir: str, lang: str = "sv") -> ComparativeReport:
        check_language(lang)
        use_report_style()
        data = load_processed(processed_dir)
        reports = Path(reports_dir)
        status = pd.DataFrame(
            json.loads((reports / RUN_STATUS_FILE).read_text("utf-8"))["municipalities"]
        )
        # Written by the study-level step (evaluation/study.py), which runs before this report.
        missing = [
            f
            for f in (EFFECTS_FILE, POOLED_FILE, STUDY_PROVENANCE_FILE)
            if not (reports / f).is_file()
        ]
        if missing:
            raise FileNotFoundError(
                f"{', '.join(missing)} missing in {reports}: run the study-level step "
                "(python -m pipeline report runs it before this report)"
            )
        effects = read_csv(reports / EFFECTS_FILE, dtype={"place_id": str})
        pooled = read_csv(reports / POOLED_FILE)
        record = json.loads((reports / STUDY_PROVENANCE_FILE).read_text("utf-8"))
        parameters = {"processed_dir": processed_dir, "reports_dir": reports_dir, "lang": lang}
        return cls(
            data,
            lang,
            effects,
            status,
            parameters,
            pooled=pooled,
            problems=tuple(record.get("problems", ())),
            alpha=float(record.get("alpha", 0.05)),
        )

    @property
    def failed(self) -> list[str]:
        return self.status.loc[self.status["status"] != "ok", "municipality"].tolist()

    #: The sections in the order the notebook shows them; the contents list them.
    SECTIONS = (
        "section_how_to_read",
        "section_summary",
        "section_synthesis",
        "section_results",
        "section_implementation",
        "section_study_problems",
        "section_status",
        "section_provenance",
    )

    def title(self) -> str:
        """The page's title."""
        return t("comparative_title", self.lang, title=self.data.study.title)

    def header(self) -> Html:
        """Title, banner, failures, the key findings and the contents: the first screen."""
        lang = self.lang
        warning = Html("")
        if self.failed:
            warning = paragraph(
                t("failed_warning", lang, municipalities=", ".join(self.failed)), "warning"
            )
        ok = self.status.loc[self.status["status"] == "ok", "municipality"]
        codes = {m.name: m.kommunkod for m in self.data.study.municipalities}
        # The link goes to the folder the run wrote: the safe form of the name, not the name.
        links = [
            (
                f"{quote(folder_name(str(m), codes.get(m)))}/evaluation.html",
                t("link_to_municipality", lang, municipality=m),
            )
            for m in ok
        ]
        return h.join(
            [
                _banner(self.data, lang),
                heading(self.title(), 1, "top"),
                warning,
                self.key_findings(),
                _contents(self.SECTIONS, lang, links, t("other_reports", lang)),
            ]
        )

    def section(self, name: str) -> Html:
        """A section's heading, anchored for the contents."""
        if name not in self.SECTIONS:
            raise KeyError(f"'{name}' is not a section of the comparative report")
        return heading(t(name, self.lang), 2, name)

    def reading_guide(self) -> Html:
        return reading_guide(self.data, self.lang)

    def key_findings(self) -> Html:
        """The programme's answer, each municipality's confirmatory outcome and action plan."""
        lang = self.lang
        indicator = key.confirmatory_indicator(self.data.study)
        label = _indicator_label(self.data, indicator, lang)
        groups = []
        programme = self.pooled[
            (self.pooled["indicator"] == indicator) & (self.pooled["family"] == "confirmatory")
        ]
        for row in programme.itertuples(index=False):
            finding = key.effect_finding(
                t("programme_label", lang, indicator=label, k=int(row.k)),
                estimand=row.estimand,
                estimate=row.estimate,
                ci_low=row.ci_low,
                ci_high=row.ci_high,
                p_adjusted=row.p_adjusted,  # Holm within the confirmatory family
                lang=lang,
            )
            groups.append(key.FindingGroup(t("programme_heading", lang), (finding,)))
        family = key.confirmatory_rows(self.effects)
        implementation = self._implementation()
        for municipality in self.data.study.municipality_names:
            findings = key.municipality_findings(
                municipality,
                family,
                implementation,
                lambda place_id: _finding_place(self.data, place_id, lang),
                lang,
            )
            if findings:
                heading_text = t(
                    "municipality_findings_heading",
                    lang,
                    municipality=municipality,
                    indicator=label,
                )
                groups.append(key.FindingGroup(heading_text, findings))
        return _key_findings(groups, self.data, lang)

    def status_table(self) -> pd.DataFrame:
        lang = self.lang
        rows = []
        for _, row in self.status.iterrows():
            ok = row["status"] == "ok"
            detail = (
                ""
                if ok
                else t("failed_detail", lang, cell=row.get("failed_cell"), error=row.get("error"))
            )
            rows.append(
                {
                    t("col_municipality", lang): row["municipality"],
                    t("col_status", lang): t("status_ok" if ok else "status_failed", lang),
                    t("col_reason", lang): detail,
                }
            )
        return pd.DataFrame(rows)

    def primary(self) -> pd.DataFrame:
        """Rows in a tested family, then each place's primary design (descriptive)."""
        if self.effects.empty:
            return self.effects
        tested = self.effects["family"].isin(["confirmatory", "gatekept", "secondary"])
        keep = tested | self.effects["primary"].astype(bool)
        return self.effects[keep].reset_index(drop=True)

    def problems_section(self) -> Html:
        """What the study-level step could not compute, with the reason (never dropped silently)."""
        if not self.problems:
            return paragraph(t("study_problems_none", self.lang))
        return h.join(
            [paragraph(t("study_problems_intro", self.lang)), h.bullet_list(list(self.problems))]
        )

    def summary_sentences(self) -> Html:
        """The other indicators of each municipality, in the words of the key findings.

        Their p-values are adjusted across every primary estimate of the study
        (``p_adjusted``); buffers are left out (they are the displacement check,
        shown in each municipality's report).
        """
        lang = self.lang
        confirmatory = key.confirmatory_indicator(self.data.study)
        buffers = {p.id for p in self.data.study.places if p.role == "buffer"}
        primary = self.primary()
        primary = primary[
            ~primary["place_id"].isin(buffers) & (primary["indicator"] != confirmatory)
        ]
        groups = []
        for municipality, frame in primary.groupby("municipality", sort=False):
            findings = []
            for row in frame.itertuples(index=False):
                indicator = self.data.study.indicator(row.indicator)
                finding = key.effect_finding(
                    f"{_indicator_label(self.data, row.indicator, lang)}, "
                    f"{_place_name(self.data, row.place_id, lang)}",
                    estimand=row.estimand,
                    estimate=row.estimate,
                    ci_low=row.ci_low,
                    ci_high=row.ci_high,
                    p_adjusted=row.p_adjusted,
                    lang=lang,
                    better=indicator.better,
                )
                survey = self.data.study.survey
                if survey is not None and row.indicator == survey.indicator:
                    # Shares in percentage points first; the model's odds ratio after them.
                    shares = survey_change_text(survey_shares(self.data, municipality, lang), lang)
                    if shares:
                        model = t("model_estimate", lang, numbers=finding.numbers)
                        finding = replace(
                            finding,
                            numbers=shares.rstrip("."),
                            note=f"{model} {finding.note}".strip(),
                        )
                findings.append(finding)
            groups.append(key.FindingGroup(str(municipality), tuple(findings)))
        return h.join(
            [
                paragraph(t("summary_municipality_intro", lang)),
                h.render("finding_groups", groups=groups),
            ]
        )

    def summary_table(self) -> pd.DataFrame:
        """The tested and primary estimates of every municipality, each with its family and the
        p-value adjusted within it."""
        return localized_effects(self.data, self.primary(), self.lang, with_municipality=True)

    def synthesis(self) -> list:
        """Per indicator, the pools the study-level step wrote (``pooled_effects.csv``).

        Count indicators are pooled through the panel of every target (it knows
        they share comparison areas); survey and inspection estimates by
        random-effects meta-analysis, one estimand per pool. A pool that could not
        be estimated is shown with its reason.
        """
        lang = self.lang
        parts: list = [paragraph(t("synthesis_intro", lang))]
        for row in self.pooled.itertuples(index=False):
            label = _indicator_label(self.data, row.indicator, lang)
            word = t(certainty_key(row.family, row.p_adjusted, self.alpha), lang)
            family = t(f"family_{row.family}", lang)
            if row.estimate != row.estimate:
                parts.append(
                    paragraph(t("synthesis_not_estimated", lang, indicator=label, reason=row.notes))
                )
            elif row.design == "panel":
                parts.append(
                    paragraph(
                        t(
                            "panel_sentence",
                            lang,
                            indicator=label,
                            k=int(row.k),
                            estimate=number(row.estimate, lang),
                            low=number(row.ci_low, lang),
                            high=number(row.ci_high, lang),
                            p=p_text(row.p_value, lang),
                        )
                        + f" {family}: {word}."
                    )
                )
            elif row.design == "meta_random":
                pi = (
                    f"{number(row.pi_low, lang)}–{number(row.pi_high, lang)}"
                    if np.isfinite(row.pi_low)
                    else t("not_defined", lang)
                )
                fixed = self.pooled[
                    (self.pooled["indicator"] == row.indicator)
                    & (self.pooled["estimand"] == row.estimand)
                    & (self.pooled["design"] == "meta_fixed")
                ]["estimate"]
                parts.append(
                    paragraph(
                        t(
                            "synthesis_sentence",
                            lang,
                            indicator=f"{label} ({t(f'measure_{row.estimand}', lang)})",
                            estimate=number(row.estimate, lang),
                            low=number(row.ci_low, lang),
                            high=number(row.ci_high, lang),
                            p=p_text(row.p_value, lang),
                            k=int(row.k),
                            fixed=number(fixed.iloc[0], lang) if len(fixed) else "–",
                            tau2=number(row.tau2, lang, 3),
                            i2=number(row.i2_percent, lang, 0),
                            pi=pi,
                        )
                        + f" {family}: {word}."
                    )
                )
        return parts

    def _implementation(self) -> pd.DataFrame | None:
        settings = self.data.study.action_plan
        if self.data.actions is None or settings is None:
            return None
        return implementation_shares(
            self.data.actions,
            project_start=settings.project_start,
            horizons_months=settings.horizons_months,
        ).table

    def implementation(self) -> list:
        """Implementation shares per municipality, and implementation against the survey effect."""
        lang = self.lang
        shares = self._implementation()
        if shares is None:
            return [paragraph(t("no_action_plan", lang))]
        frames = []
        for municipality in [*self.data.study.municipality_names, TOTAL]:
            part = implementation_table(shares, municipality, lang)
            if not part.empty:
                name = t("total_label", lang) if municipality == TOTAL else municipality
                part.insert(0, t("col_municipality", lang), name)
                frames.append(part)
        last = shares[
            (shares["horizon_months"] == shares["horizon_months"].max())
            & shares["municipality"].isin(self.data.study.municipality_names)
            & (shares["n"] > 0)
        ]
        labels = [str(m) for m in last["municipality"]]
        with plt.rc_context(FIGURE_STYLE):
            goal_fig, _ = plot_implementation_shares(last, labels=labels, lang=lang)
        parts: list = [
            paragraph(t("action_plan_intro", lang)),
            figure_html(goal_fig, _implementation_alt(last, labels, lang)),
            details(t("show_table", lang), table(pd.concat(frames, ignore_index=True))),
        ]
        survey = self.data.study.survey
        primary = self.primary()
        if survey is None or primary.empty:
            return parts
        # Odds ratios only: a municipality without comparison areas has a percentage-point change.
        effects = primary[
            (primary["indicator"] == survey.indicator)
            & primary["primary"].astype(bool)
            & (primary["estimand"] == "odds_ratio")
        ].rename(columns={"ci_low": "ci_lower", "ci_high": "ci_upper"})
        horizon = max(self.data.study.action_plan.horizons_months)
        try:
            paired = implementation_vs_effect(
                shares, effects, horizon_months=horizon, null=0.0, effect_label="points"
            )
        except (ValueError, KeyError) as exc:
            parts.append(paragraph(t("implementation_not_shown", lang, reason=str(exc))))
            return parts
        m = len(paired.table)
        r_crit = "–"
        if m >= 3:
            q = stats.t.ppf(0.975, m - 2)
            r_crit = number(q / np.sqrt(q**2 + m - 2), lang)
        title = t("section_implementation", lang)
        fig, ax = paired.plot(title=title, lang=lang)
        ax.set_ylabel(t("axis_survey_pp", lang))
        ax.set_xlabel(t("axis_implementation", lang, horizon=horizon))
        parts += [
            figure_html(fig, t("alt_implementation", lang, horizon=horizon)),
            paragraph(t("implementation_text", lang, horizon=horizon, r_crit=r_crit)),
        ]
        return parts

    def provenance(self) -> Html:
        return provenance_html(_provenance_record(self.data, self.parameters), self.lang)
