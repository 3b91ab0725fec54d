"""The sections of the comparative report across municipalities, in one language.

It reads what the study-level step wrote and computes nothing of its own, so it says the same
words as each municipality's report.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from ..evaluation.study import municipality_primaries
from ..format import number, p_text
from ..inputs.prepare import StudyData, load_processed
from ..methods.implementation import TOTAL, implementation_shares, implementation_vs_effect
from ..outputs import read_csv
from ..results import POOLED_COLUMNS
from ..run.paths import (
    EFFECTS_FILE,
    POOLED_FILE,
    RUN_STATUS_FILE,
    STUDY_PROVENANCE_FILE,
    folder_name,
)
from . import findings as key
from . import html as h
from .figures_outcomes import (
    LABEL_WIDTH_CHARS,
    TITLE_WIDTH_CHARS,
    plot_implementation_shares,
)
from .figures_pooling import programme_forest_plot
from .html import Html, details, heading, paragraph, table
from .i18n import check_language, t
from .sections import (
    FIGURE_STYLE,
    banner,
    certainty_key,
    contents,
    figure_html,
    finding_place,
    implementation_alt,
    implementation_table,
    indicator_label,
    key_findings_box,
    localized_effects,
    place_name,
    provenance_html,
    provenance_record,
    reading_guide,
    survey_change_text,
    survey_shares,
)
from .style import use_report_style


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
                banner(self.data, lang),
                heading(self.title(), 1, "top"),
                warning,
                self.key_findings(),
                contents(self.SECTIONS, lang, links, t("other_reports", lang)),
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
        label = indicator_label(self.data, indicator, lang)
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
                lambda place_id: finding_place(self.data, place_id, lang),
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
        return key_findings_box(groups, self.data, lang)

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
                    f"{indicator_label(self.data, row.indicator, lang)}, "
                    f"{place_name(self.data, row.place_id, lang)}",
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
                    # Shares in percentage points first; the model's estimate after them.
                    shares = survey_change_text(survey_shares(self.data, municipality, lang), lang)
                    finding = key.survey_finding(finding, shares, lang)
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
            label = indicator_label(self.data, row.indicator, lang)
            word = t(certainty_key(row.family, row.p_adjusted, self.alpha), lang)
            family = t(f"family_{row.family}", lang)
            if row.estimate != row.estimate:
                parts.append(
                    paragraph(t("synthesis_not_estimated", lang, indicator=label, reason=row.notes))
                )
            elif row.design in ("panel", "panel_nested"):
                parts.append(
                    paragraph(
                        t(
                            f"{row.design}_sentence",
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
                if row.family == "confirmatory":
                    parts += self._forest(row, label)
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

    def _forest(self, pooled, label: str) -> list:
        """The programme's pool beside each municipality's primary estimate, as the step wrote them."""
        lang = self.lang
        found = municipality_primaries(self.effects, self.data.study, pooled.indicator)
        rows, left_out = [], []
        for municipality, row in found.items():
            estimate = None if isinstance(row, str) else self.effects.loc[row]
            if estimate is None or estimate["estimand"] != pooled.estimand:
                reason = row if isinstance(row, str) else t(f"measure_{estimate['estimand']}", lang)
                left_out.append(f"{municipality} ({reason})")
            elif np.isfinite(estimate[["estimate", "ci_low", "ci_high"]].astype(float)).all():
                rows.append({"label": municipality, **estimate[["estimate", "ci_low", "ci_high"]]})
            else:
                left_out.append(f"{municipality} ({t('not_defined', lang)})")
        if not rows:
            return []
        frame = pd.DataFrame(rows)
        with plt.rc_context(FIGURE_STYLE):
            fig, _ = programme_forest_plot(
                frame,
                pooled,
                xlabel=t(f"measure_{pooled.estimand}", lang),
                pooled_label=t("forest_pool_label", lang, k=int(pooled.k)),
                lang=lang,
            )
        items = [
            f"{r.label} {number(r.estimate, lang)} ({number(r.ci_low, lang)}–"
            f"{number(r.ci_high, lang)})"
            for r in frame.itertuples(index=False)
        ]
        items.append(
            f"{t('forest_pool_label', lang, k=int(pooled.k))} {number(pooled.estimate, lang)} "
            f"({number(pooled.ci_low, lang)}–{number(pooled.ci_high, lang)})"
        )
        caption = t("forest_caption", lang)
        if left_out:
            caption += " " + t("forest_left_out", lang, items="; ".join(left_out))
        alt = t("alt_programme_forest", lang, indicator=label, items="; ".join(items))
        return [figure_html(fig, alt, caption)]

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
            figure_html(goal_fig, implementation_alt(last, labels, lang)),
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
        ]
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
        ax.set_ylabel(textwrap.fill(t("axis_survey_pp", lang), LABEL_WIDTH_CHARS))
        ax.set_xlabel(
            textwrap.fill(t("axis_implementation", lang, horizon=horizon), TITLE_WIDTH_CHARS)
        )
        parts += [
            figure_html(fig, t("alt_implementation", lang, horizon=horizon)),
            paragraph(t("implementation_text", lang, horizon=horizon, r_crit=r_crit)),
        ]
        return parts

    def provenance(self) -> Html:
        return provenance_html(provenance_record(self.data, self.parameters), self.lang)
