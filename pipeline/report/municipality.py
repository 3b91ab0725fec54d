"""The sections of one municipality's evaluation report, in one language.

The notebook stays thin: a parameters cell, then one call per section. Every section returns an
object a notebook displays by itself (an :class:`Html` fragment, a DataFrame or a matplotlib
figure), and nothing here prints.

One class with one method a report section (over 500 lines): a section's code sits where the
notebook calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ..designs.survey import problems_index_arms
from ..evaluation.municipality import (
    MunicipalityEvaluation,
    adjusted_effects,
    cached_evaluation,
    evaluate_municipality,
    evaluate_target,
    municipality_panel,
)
from ..evaluation.study import assign_families, study_results
from ..format import number, p_text
from ..inputs.prepare import StudyData, load_processed
from ..methods.implementation import implementation_shares
from ..methods.inspection import inspection_change
from ..results import EFFECT_COLUMNS, effects_frame
from . import findings as key
from . import html as h
from .figures import plot_effect_and_cumulative
from .figures_outcomes import (
    plot_action_timeline,
    plot_implementation_shares,
    plot_inspection,
    plot_shares,
)
from .html import Html, heading, paragraph, table
from .i18n import check_language, t
from .sections import (
    FIGURE_STYLE,
    banner,
    change_text,
    contents,
    figure_html,
    finding_place,
    implementation_alt,
    implementation_table,
    indicator_label,
    key_findings_box,
    localized_effects,
    or_dash,
    place_name,
    provenance_html,
    provenance_record,
    reading_guide,
    study_implementation_shares,
    survey_change_text,
    survey_shares,
)
from .style import use_report_style


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

    #: The municipality's rows as the study-level step wrote them (``family``, ``p_adjusted``);
    #: None when that step has not run over this evaluation.
    adjusted: pd.DataFrame | None = None

    @classmethod
    def build(
        cls, processed_dir: str, municipality: str, lang: str = "sv", output_dir: str | None = None
    ) -> MunicipalityReport:
        """The report of ``municipality``.

        With ``output_dir`` (the municipality's results folder), the evaluation stored there by
        the run is displayed when it was computed from the same inputs, parameters and code, and
        computed and stored there when not; the study-level step's adjusted p-values are shown
        when that step ran over this very evaluation. Without it, the evaluation is computed
        here and nothing is stored.
        """
        check_language(lang)
        use_report_style()
        data = load_processed(processed_dir)
        adjusted = None
        if output_dir is None:
            evaluation = evaluate_municipality(data, municipality)
        else:
            key_parameters = {"lang": lang}
            evaluation, _ = cached_evaluation(data, municipality, Path(output_dir), key_parameters)
            adjusted = adjusted_effects(data, municipality, Path(output_dir), key_parameters)
        parameters = {"processed_dir": processed_dir, "municipality": municipality, "lang": lang}
        return cls(data, municipality, lang, evaluation, parameters, adjusted)

    def title(self) -> str:
        """The page's title."""
        return t("municipality_title", self.lang, municipality=self.municipality)

    def header(self) -> Html:
        """Title, the synthetic-data banner, the key findings and the contents: the first screen."""
        lang = self.lang
        return h.join(
            [
                banner(self.data, lang),
                heading(self.title(), 1, "top"),
                paragraph(f"{t('study_label', lang)}: {self.data.study.title}"),
                self.key_findings(),
                contents(
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
        if self.adjusted is not None:
            return key.confirmatory_rows(self.adjusted)
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
            study_implementation_shares(self.data),
            lambda place_id: finding_place(self.data, place_id, lang),
            lang,
            perceived_safety=self.perceived_safety_finding(),
        )
        group = key.FindingGroup(
            t(
                "municipality_findings_heading",
                lang,
                municipality=self.municipality,
                indicator=indicator_label(self.data, indicator, lang),
            ),
            findings,
        )
        return key_findings_box([group], self.data, lang)

    def perceived_safety_finding(self) -> key.Finding | None:
        """The survey's change in target and comparison areas, in percentage points, with the word
        its estimate earns in the secondary family; None without a survey estimate.

        The adjusted p-value is the study-level step's. A notebook opened alone has
        none; the family's adjustment (Benjamini-Hochberg over every secondary row of
        the study) never lowers a p-value, so the word is settled without it whenever
        the interval includes no change or the unadjusted p is 0.05 or more: the
        finding then shows the unadjusted p. Only otherwise is the whole study
        evaluated, as the study-level step does (:meth:`_study_adjusted`).
        """
        survey = self.data.study.survey
        if survey is None:
            return None
        effects = self.effects
        rows = effects[
            (effects["indicator"] == survey.indicator) & (effects["family"] == "secondary")
        ]
        if rows.empty:
            return None
        row = rows.iloc[0]
        p, p_key = row["p_value"], "p_unadjusted_text"
        if self.adjusted is not None:  # the study-level step's own adjusted p-value
            p, p_key = row["p_adjusted"], "p_adjusted_text"
        elif not key.settled_without_adjustment(
            row["estimand"], row["ci_low"], row["ci_high"], row["p_value"]
        ):
            p, p_key = self._study_adjusted(row), "p_adjusted_text"
        finding = key.effect_finding(
            t("finding_perceived_safety", self.lang),
            estimand=row["estimand"],
            estimate=row["estimate"],
            ci_low=row["ci_low"],
            ci_high=row["ci_high"],
            p_adjusted=p,
            lang=self.lang,
            better=self.data.study.indicator(survey.indicator).better,
            p_key=p_key,
        )
        shares = survey_change_text(self._survey_shares(), self.lang)
        return key.survey_finding(finding, shares, self.lang)

    def _study_adjusted(self, row: pd.Series) -> float:
        """``row``'s p-value adjusted within its family over the whole study's estimates."""
        frames = [self.evaluation.to_frame()]
        for municipality in self.data.study.municipality_names:
            if municipality != self.municipality:
                frames.append(evaluate_municipality(self.data, municipality).to_frame())
        effects = pd.concat([f for f in frames if not f.empty], ignore_index=True)
        adjusted = study_results(self.data, effects, self.data.study.municipality_names).effects
        match = adjusted[
            (adjusted["municipality"] == row["municipality"])
            & (adjusted["indicator"] == row["indicator"])
            & (adjusted["design"] == row["design"])
            & (adjusted["estimand"] == row["estimand"])
            & (
                adjusted["place_id"].fillna("")
                == ("" if pd.isna(row["place_id"]) else row["place_id"])
            )
        ]
        return float(match["p_adjusted"].iloc[0]) if len(match) else float("nan")

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
                        place_name(self.data, c) for c in place.controls
                    ),
                    t("col_buffer", lang): place_name(self.data, place.buffer)
                    if place.buffer
                    else "",
                }
            )
        return pd.DataFrame(rows)

    def places_map(self) -> Html:
        """The map of the municipality's places, buffers and controls, when the study has their
        polygons (``places.geojson`` from ``import-offences``); nothing otherwise."""
        shapes = self.data.place_shapes
        if shapes is None:
            return Html("")
        lang, study = self.lang, self.data.study
        ours = {p.id: p for p in study.places if p.municipality == self.municipality}
        shapes = shapes[shapes["place_id"].isin(ours)]
        if shapes.empty:
            return Html("")
        import geopandas as gpd

        from ..importers.places import SWEREF99TM, plot_places_map

        frame = gpd.GeoDataFrame(
            {"place_id": shapes["place_id"].map(lambda i: ours[i].name), "role": shapes["role"]},
            geometry=gpd.GeoSeries.from_wkt(shapes["geometry"].to_numpy()),
            crs=SWEREF99TM,
        )
        roles = {r: t(f"map_role_{r}", lang) for r in ("target", "buffer", "control")}
        with plt.rc_context(FIGURE_STYLE):
            fig, _ = plot_places_map(frame, role_labels=roles)
            # Room for the northings on the left and the legend on the right of the map.
            fig.set_size_inches(9, 6.5)
            fig.subplots_adjust(left=0.14, right=0.72, bottom=0.1, top=0.97)
        names = {
            role: ", ".join(frame.loc[frame["role"] == role, "place_id"]) or "–"
            for role in ("target", "buffer", "control")
        }
        alt = t(
            "alt_places_map",
            lang,
            municipality=self.municipality,
            targets=names["target"],
            buffers=names["buffer"],
            controls=names["control"],
        )
        return figure_html(fig, alt, caption=t("places_map_caption", lang))

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
        """The municipality's effects with the family each p-value belongs to and, once the
        study-level step has run over them, its adjusted p-value (the very rows the
        comparative report reads)."""
        if self.adjusted is not None:
            return self.adjusted
        return assign_families(self.evaluation.to_frame(), self.data.study)

    def _localized(self, frame: pd.DataFrame, *, brief: bool) -> pd.DataFrame:
        return localized_effects(
            self.data, frame, self.lang, brief=brief, adjusted=self.adjusted is not None
        )

    def results_table(self, *, primary_only: bool = True) -> pd.DataFrame:
        """The primary estimates in brief, or every estimate in full; each with its family,
        its adjusted p-value and the certainty word every report gives it."""
        frame = self.effects
        if primary_only:
            frame = frame[frame["primary"].astype(bool)].reset_index(drop=True)
        if primary_only:  # buffers are the displacement check, shown in their own section
            buffers = {p.id for p in self.data.study.places if p.role == "buffer"}
            frame = frame[~frame["place_id"].isin(buffers)]
        return self._localized(frame, brief=primary_only)

    def adjustment_note(self) -> Html:
        """Says so when the study-wide adjustment of the p-values is not available."""
        if self.adjusted is not None:
            return Html("")
        return paragraph(t("adjustment_not_available", self.lang), "note")

    def displacement(self):
        """Buffer zones: the buffer's comparison, the WDD test and the WDQ, per target."""
        frame = self.effects
        buffers = {p.buffer for p in self.data.study.targets(self.municipality) if p.buffer}
        rows = frame[frame["design"].isin(["wdd", "wdq"]) | frame["place_id"].isin(buffers)]
        if rows.empty:
            return paragraph(t("no_buffers", self.lang))
        return table(self._localized(rows, brief=True))

    def figures(self, indicator: str | None = None) -> list[Html]:
        """One figure per target: observed and expected counts with the expected band, then the
        crimes fewer than expected added up since the start, with their interval."""
        lang = self.lang
        indicator = indicator or key.confirmatory_indicator(self.data.study)
        label = indicator_label(self.data, indicator, lang)
        figures = []
        for place in self.data.study.targets(self.municipality):
            try:
                effect = self.evaluation.effect(place.id, indicator)
            except KeyError:
                continue
            design = t("design_" + effect.design, lang)
            start = pd.Period(place.intervention_start, freq="M")
            with plt.rc_context(FIGURE_STYLE):
                fig, _ = plot_effect_and_cumulative(
                    effect=effect,
                    start=start,
                    shocks=self.data.study.shocks,
                    title=f"{place.name} – {label}",
                    lang=lang,
                )
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
                    t("col_share_unsafe", lang): or_dash(
                        row.share, f"{number(100 * row.share, lang, 1)} %"
                    ),
                    t("col_ci", lang): or_dash(
                        row.ci_low,
                        f"{number(100 * row.ci_low, lang, 1)}–"
                        f"{number(100 * row.ci_high, lang, 1)} %",
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
                shares, title=indicator_label(data, settings.indicator, lang), lang=lang
            )
        estimates = self.effects
        estimates = estimates[estimates["indicator"] == settings.indicator]
        return [
            paragraph(t("survey_intro", lang)),
            self.survey_sentence(),
            table(self.survey_table()),
            figure_html(fig, t("alt_survey", lang, municipality=self.municipality)),
            paragraph(t("survey_estimates_intro", lang)),
            table(self._localized(estimates, brief=True)),
            *self.problems_index(),
        ]

    def problems_index(self) -> list:
        """The local problems index: each arm's mean before and after, and the estimate."""
        lang, data = self.lang, self.data
        index = data.study.survey.problems_index if data.study.survey else None
        if index is None:
            return []
        rows = self.effects[self.effects["indicator"] == index.indicator]
        if rows.empty:
            return []
        label = indicator_label(data, index.indicator, lang)
        parts = [
            heading(label, 3),
            paragraph(t("problems_index_intro", lang, n=len(index.questions))),
        ]
        arms = problems_index_arms(data, self.municipality)
        if arms is not None and not arms["suppressed"].any():
            values = {
                f"{arm}_{period}": number(arms.loc[arm, f"mean_{period}"], lang, 2)
                for arm in ("target", "comparison")
                for period in ("before", "after")
            }
            parts.append(paragraph(t("problems_index_arms", lang, **values)))
        return [*parts, table(self._localized(rows, brief=True))]

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
                p=p_text(change.permutation_p_value, lang),
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
            figure_html(goal_fig, implementation_alt(rows, labels, lang)),
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
                        t("col_place", self.lang): place_name(self.data, s.place_id, self.lang),
                        t("col_indicator", self.lang): indicator_label(
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

    def provenance(self) -> Html:
        return provenance_html(provenance_record(self.data, self.parameters), self.lang)
