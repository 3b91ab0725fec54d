"""The funder's final report (slutrapport): the project's own texts and the pipeline's results.

The report follows the structure a Swedish innovation agency asks for:
summary (with a short English summary in a Swedish report), background, aims
and goals, implementation, results and goal fulfilment, conclusions and next
steps, dissemination and use, limitations and a methods appendix. The project
writes its parts in a Markdown file in the study folder (:mod:`.final_texts`) and
its metadata in ``study.yml``'s ``report`` section; everything that is a
result (estimates, intervals, goal fulfilment, figures) is computed here from
what :mod:`.final_inputs` reads (the study's ``effects.csv``,
``pooled_effects.csv``, the processed data and the action plans) and written
in the words of :mod:`.final_wording`.

The HTML comes from a jinja2 template with autoescaping, so every text the
study supplies is escaped by construction; :mod:`.pdf` prints it.

:class:`FinalReport` stays one class in one module (over 500 lines): its
sections draw on the same look-ups (primary estimates, pools, labels, the
goal's horizon) and the template receives them together from ``context``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from ..format import number, p_text
from ..inputs.study import Study
from ..methods.implementation import TOTAL, implementation_shares
from ..run.provenance import code_version, package_versions, portable_path, sha256_file
from .final_figures import Image, plot_goal_fulfilment, plot_headline_effects, svg_image
from .final_inputs import FinalReportInputs
from .final_texts import section_title, sections_for
from .final_wording import (
    change_and_interval,
    is_missing,
    iso_date,
    percent,
    row_verdict,
    signed,
)
from .i18n import t
from .sections import survey_shares
from .words import goal_judgement

TEMPLATE_DIR = Path(__file__).with_name("templates") / "final"
TEMPLATE = "final_report.html.j2"
STYLESHEET = "print.css"


@dataclass(frozen=True)
class Table:
    """A table as the template lays it out: caption, header and rows of plain text."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    numeric: frozenset[int] = frozenset()  # columns aligned right


@dataclass(frozen=True)
class Figure:
    """A figure with its caption."""

    image: Image
    caption: str


# ---------------------------------------------------------------------------
# The report's computed content
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalReport:
    """The final report's content in one language, ready to render."""

    inputs: FinalReportInputs

    @property
    def lang(self) -> str:
        return self.inputs.lang

    @property
    def study(self) -> Study:
        return self.inputs.study

    # -- look-ups ------------------------------------------------------------
    def headline_indicator(self):
        """The indicator the report leads with: the chosen one, else the first count indicator."""
        chosen = self.study.report.headline_indicator
        if chosen is not None:
            return self.study.indicator(chosen)
        counts = [i for i in self.study.indicators if i.family == "count"]
        return counts[0] if counts else self.study.indicators[0]

    def _label(self, indicator) -> str:
        return indicator.label_sv if self.lang == "sv" else indicator.label_en

    def _roles(self) -> dict[str, str]:
        return {p.id: p.role for p in self.study.places}

    def primary(self, indicator: str, role: str = "target") -> pd.DataFrame:
        """Primary estimates of an indicator at places with ``role`` (in study order)."""
        effects = self.inputs.effects
        frame = effects[effects["primary"].astype(bool) & (effects["indicator"] == indicator)]
        roles = frame["place_id"].map(self._roles())
        frame = frame[roles == role]
        order = {p.id: i for i, p in enumerate(self.study.places)}
        return frame.sort_values("place_id", key=lambda s: s.map(order), kind="stable")

    def pooled_row(self, indicator: str, design: str) -> pd.Series | None:
        """The indicator's pooled estimate by ``design``; ``None`` when there is none or the
        study-level step could not estimate it (its reason is in the comparative report)."""
        pooled = self.inputs.pooled
        match = pooled[
            (pooled["indicator"] == indicator)
            & (pooled["design"] == design)
            & pooled["estimate"].notna()
        ]
        return None if match.empty else match.iloc[0]

    def failed(self) -> list[str]:
        return [r["municipality"] for r in self.inputs.status if r["status"] != "ok"]

    # -- implementation ------------------------------------------------------
    def implementation(self) -> pd.DataFrame | None:
        """Implementation shares per municipality and horizon (``None`` without action plans)."""
        settings = self.study.action_plan
        if self.inputs.data.actions is None or settings is None:
            return None
        return implementation_shares(
            self.inputs.data.actions,
            project_start=settings.project_start,
            horizons_months=settings.horizons_months,
        ).table

    def goal_horizon(self, table: pd.DataFrame) -> int:
        """The latest horizon within the project period (else the latest of all)."""
        end = pd.Timestamp(self.study.report.project_period.end)
        horizons = table.drop_duplicates("horizon_months")
        within = horizons[pd.to_datetime(horizons["horizon_date"]) <= end]
        chosen = within if not within.empty else horizons
        return int(chosen["horizon_months"].max())

    def goal_table(self) -> Table | None:
        table = self.implementation()
        if table is None:
            return None
        lang, goal = self.lang, self.study.report.goal_share
        rows = []
        for row in table.itertuples(index=False):
            name = t("final_total", lang) if row.municipality == TOTAL else row.municipality
            judgement = goal_judgement(row.share, row.wilson_lower, row.wilson_upper, goal)
            rows.append(
                [
                    name,
                    t("final_months", lang, months=int(row.horizon_months)),
                    t("final_k_of_n", lang, k=int(row.k), n=int(row.n)),
                    "–" if is_missing(row.share) else percent(row.share, lang),
                    "–"
                    if is_missing(row.wilson_lower)
                    else t(
                        "final_interval",
                        lang,
                        low=percent(row.wilson_lower, lang),
                        high=percent(row.wilson_upper, lang),
                    ),
                    t(f"final_goal_{judgement}", lang),
                ]
            )
        return Table(
            caption=t("final_goal_table_caption", lang, goal=percent(goal, lang)),
            header=[
                t("final_col_municipality", lang),
                t("final_col_horizon", lang),
                t("final_col_done_or_started", lang),
                t("final_col_share", lang),
                t("final_col_interval", lang),
                t("final_col_goal", lang),
            ],
            rows=rows,
            numeric=frozenset({2, 3, 4}),
        )

    def goal_figure(self) -> Figure | None:
        table = self.implementation()
        if table is None:
            return None
        lang, goal = self.lang, self.study.report.goal_share
        fig, _ = plot_goal_fulfilment(
            table=table[table["municipality"] != TOTAL], goal=goal, lang=lang
        )
        caption = t("final_goal_figure_caption", lang, goal=percent(goal, lang))
        return Figure(svg_image(fig, caption), caption)

    def goal_sentences(self) -> list[str]:
        """One sentence per municipality: goal met or not at the goal horizon, with the interval."""
        table = self.implementation()
        if table is None:
            return []
        lang, goal = self.lang, self.study.report.goal_share
        horizon = self.goal_horizon(table)
        part = table[(table["horizon_months"] == horizon) & (table["municipality"] != TOTAL)]
        sentences = []
        for row in part.itertuples(index=False):
            judgement = goal_judgement(row.share, row.wilson_lower, row.wilson_upper, goal)
            if judgement == "unknown":
                sentences.append(
                    t("final_goal_sentence_unknown", lang, municipality=row.municipality)
                )
                continue
            sentences.append(
                t(
                    "final_goal_sentence",
                    lang,
                    municipality=row.municipality,
                    k=int(row.k),
                    n=int(row.n),
                    months=horizon,
                    share=percent(row.share, lang),
                    low=percent(row.wilson_lower, lang),
                    high=percent(row.wilson_upper, lang),
                    judgement=t(f"final_goal_{judgement}", lang),
                )
            )
        return sentences

    # -- effects -------------------------------------------------------------
    def _place_label(self, row) -> str:
        place = self.study.place(row["place_id"])
        return f"{row['municipality']}: {place.name}"

    def effects_table(self, indicator, role: str = "target", caption_key: str = "") -> Table | None:
        frame = self.primary(indicator.id, role)
        if frame.empty:
            return None
        lang = self.lang
        rows = []
        for _, row in frame.iterrows():
            change, interval = change_and_interval(
                row["estimand"], row["estimate"], row["ci_low"], row["ci_high"], lang
            )
            rows.append(
                [
                    row["municipality"],
                    self.study.place(row["place_id"]).name,
                    change,
                    interval,
                    row_verdict(row, lang),
                    t(
                        "design_with_level",
                        lang,
                        design=t("design_" + row["design"], lang),
                        level=int(row["sms_level"]),
                    ),
                ]
            )
        return Table(
            caption=t(
                caption_key or "final_effects_caption", lang, indicator=self._label(indicator)
            ),
            header=[
                t("final_col_municipality", lang),
                t("final_col_place", lang),
                t("final_col_change", lang),
                t("final_col_interval", lang),
                t("final_col_verdict", lang),
                t("final_col_design", lang),
            ],
            rows=rows,
            numeric=frozenset({2, 3}),
        )

    def headline_figure(self) -> Figure | None:
        indicator = self.headline_indicator()
        frame = self.primary(indicator.id)
        frame = frame[frame["estimand"] == "rate_ratio"]
        if frame.empty:
            return None
        rows = frame.assign(label=[self._place_label(r) for _, r in frame.iterrows()])
        pooled = self.pooled_row(indicator.id, "meta_random")
        fig, _ = plot_headline_effects(
            rows=rows, pooled=pooled, indicator_label=self._label(indicator), lang=self.lang
        )
        caption = t("final_headline_figure_caption", self.lang, indicator=self._label(indicator))
        return Figure(svg_image(fig, caption), caption)

    def programme_sentences(self, indicator) -> list[str]:
        """The study-wide answer for an indicator: pooled across places, and the panel."""
        lang, sentences = self.lang, []
        label = self._label(indicator)
        meta = self.pooled_row(indicator.id, "meta_random")
        if meta is not None:
            change, interval = change_and_interval(
                meta["estimand"], meta["estimate"], meta["ci_low"], meta["ci_high"], lang
            )
            sentences.append(
                t(
                    "final_programme_pooled",
                    lang,
                    indicator=label,
                    k=int(meta["k"]),
                    change=change,
                    interval=interval,
                    p=p_text(meta["p_value"], lang),
                    verdict=row_verdict(meta, lang, adjusted=False),
                )
            )
        panel = self.pooled_row(indicator.id, "panel")
        if panel is not None:
            change, interval = change_and_interval(
                panel["estimand"], panel["estimate"], panel["ci_low"], panel["ci_high"], lang
            )
            sentences.append(
                t(
                    "final_programme_panel",
                    lang,
                    k=int(panel["k"]),
                    change=change,
                    interval=interval,
                    p=p_text(panel["p_value"], lang),
                    verdict=row_verdict(panel, lang, adjusted=False),
                )
            )
        return sentences

    def key_findings(self) -> list[str]:
        """The headline box: the programme's answer, each place's, implementation against the goal."""
        lang = self.lang
        indicator = self.headline_indicator()
        findings = self.programme_sentences(indicator)
        frame = self.primary(indicator.id)
        for _, row in frame.iterrows():
            change, interval = change_and_interval(
                row["estimand"], row["estimate"], row["ci_low"], row["ci_high"], lang
            )
            findings.append(
                t(
                    "final_finding_place",
                    lang,
                    place=self._place_label(row),
                    verdict=row_verdict(row, lang),
                    change=change,
                    interval=interval,
                )
            )
        findings += self.goal_sentences()
        return findings

    def other_indicators_table(self) -> Table | None:
        """Every indicator's pooled estimate across places (random effects), one row each."""
        lang, rows = self.lang, []
        for indicator in self.study.indicators:
            row = self.pooled_row(indicator.id, "meta_random")
            if row is None:
                continue
            change, interval = change_and_interval(
                row["estimand"], row["estimate"], row["ci_low"], row["ci_high"], lang
            )
            rows.append(
                [
                    self._label(indicator),
                    str(int(row["k"])),
                    change,
                    interval,
                    row_verdict(row, lang, adjusted=False),
                ]
            )
        if not rows:
            return None
        return Table(
            caption=t("final_pooled_caption", lang),
            header=[
                t("final_col_indicator", lang),
                t("final_col_k", lang),
                t("final_col_change", lang),
                t("final_col_interval", lang),
                t("final_col_verdict", lang),
            ],
            rows=rows,
            numeric=frozenset({1, 2, 3}),
        )

    def survey_table(self) -> Table | None:
        """Share unsafe in target and comparison areas before and after, per municipality.

        Aggregates only: a cell of fewer than 5 respondents is suppressed.
        """
        data, settings, lang = self.inputs.data, self.study.survey, self.lang
        if settings is None:
            return None
        before, after = set(settings.before), set(settings.after)
        rows = []
        for municipality in self.study.municipality_names:
            # From microdata or from a survey report's shares, whichever the study has.
            shares = survey_shares(data, municipality, lang)
            if shares is None:
                continue
            table = shares.table
            waves = pd.to_datetime(table["wave"]).dt.date
            for area in ("target", "comparison"):
                part = table[table["area"] == t(f"area_{area}", lang)]
                pre = part[waves[part.index].isin(before)]
                post = part[waves[part.index].isin(after)]
                if pre.empty or post.empty:
                    continue
                a, b = pre.iloc[0], post.iloc[-1]
                shown = not (a["suppressed"] or b["suppressed"])
                rows.append(
                    [
                        municipality,
                        t(f"area_{area}", lang),
                        percent(a["share"], lang, 1) if not a["suppressed"] else "< 5",
                        percent(b["share"], lang, 1) if not b["suppressed"] else "< 5",
                        t(
                            "final_unit_pp",
                            lang,
                            value=signed(100 * (b["share"] - a["share"]), lang, 1),
                        )
                        if shown
                        else "–",
                    ]
                )
        if not rows:
            return None
        return Table(
            caption=t(
                "final_survey_caption",
                lang,
                indicator=self._label(self.study.indicator(settings.indicator)),
            ),
            header=[
                t("final_col_municipality", lang),
                t("final_col_area", lang),
                t("final_col_before", lang),
                t("final_col_after", lang),
                t("final_col_change", lang),
            ],
            rows=rows,
            numeric=frozenset({2, 3, 4}),
        )

    def survey_effects_table(self) -> Table | None:
        settings = self.study.survey
        if settings is None:
            return None
        effects = self.inputs.effects
        frame = effects[
            effects["primary"].astype(bool)
            & (effects["indicator"] == settings.indicator)
            & effects["place_id"].isna()
        ]
        if frame.empty:
            return None
        lang, rows = self.lang, []
        for _, row in frame.iterrows():
            estimate = number(row["estimate"], lang)
            interval = t(
                "final_interval",
                lang,
                low=number(row["ci_low"], lang),
                high=number(row["ci_high"], lang),
            )
            rows.append(
                [
                    row["municipality"],
                    t(f"measure_{row['estimand']}", lang),
                    estimate,
                    interval,
                    row_verdict(row, lang),
                ]
            )
        return Table(
            caption=t("final_survey_effects_caption", lang),
            header=[
                t("final_col_municipality", lang),
                t("final_col_measure", lang),
                t("final_col_estimate", lang),
                t("final_col_interval", lang),
                t("final_col_verdict", lang),
            ],
            rows=rows,
            numeric=frozenset({2, 3}),
        )

    def inspection_table(self) -> Table | None:
        settings = self.study.inspections
        if settings is None:
            return None
        return self.effects_table(
            self.study.indicator(settings.indicator), caption_key="final_inspection_caption"
        )

    def displacement_table(self) -> Table | None:
        return self.effects_table(
            self.headline_indicator(), role="buffer", caption_key="final_displacement_caption"
        )

    def implementation_overview(self) -> Table:
        """Per municipality: the places with measures (and their start), comparison areas, measures."""
        lang, rows = self.lang, []
        implementation = self.implementation()
        for municipality in self.study.municipality_names:
            places = [p for p in self.study.places if p.municipality == municipality]
            targets = "; ".join(
                f"{p.name} ({iso_date(p.intervention_start)})" for p in places if p.role == "target"
            )
            controls = str(sum(p.role == "control" for p in places))
            buffers = str(sum(p.role == "buffer" for p in places))
            measures = "–"
            if implementation is not None:
                part = implementation[implementation["municipality"] == municipality]
                if not part.empty:
                    measures = str(int(part["n_measures"].max()))
            rows.append([municipality, targets, controls, buffers, measures])
        return Table(
            caption=t("final_overview_caption", lang),
            header=[
                t("final_col_municipality", lang),
                t("final_col_targets", lang),
                t("final_col_controls", lang),
                t("final_col_buffers", lang),
                t("final_col_measures", lang),
            ],
            rows=rows,
            numeric=frozenset({2, 3, 4}),
        )

    # -- limitations and methods ---------------------------------------------
    def limitations(self) -> list[str]:
        """The limitations every evaluation of this kind has, with this study's own figures."""
        lang = self.lang
        items = [
            t(f"final_limitation_{key}", lang)
            for key in ("reporting", "pandemic", "mean", "selection")
        ]
        frame = self.primary(self.headline_indicator().id)
        mde = frame["mde_decrease_pct"].dropna() if "mde_decrease_pct" in frame else pd.Series()
        if not mde.empty:
            items.append(
                t(
                    "final_limitation_power",
                    lang,
                    low=number(mde.min(), lang, 0),
                    high=number(mde.max(), lang, 0),
                    median=number(float(np.median(mde)), lang, 0),
                )
            )
        items.append(
            t(
                "final_limitation_multiplicity",
                lang,
                n=int(self.inputs.effects["primary"].astype(bool).sum()),
            )
        )
        if self.implementation() is not None:
            items.append(t("final_limitation_implementation", lang))
        if self.failed():
            items.append(
                t("final_limitation_failed", lang, municipalities=", ".join(self.failed()))
            )
        if self.study.synthetic:
            items.append(t("banner_synthetic", lang))
        return items

    def methods(self) -> list[str]:
        """The methods behind the primary estimates, and the words' definitions."""
        lang = self.lang
        effects = self.inputs.effects
        designs = list(dict.fromkeys(effects.loc[effects["primary"].astype(bool), "design"]))
        paragraphs = [t("primary_rule", lang)]
        for design in designs:
            try:
                paragraphs.append(t(f"method_{design}", lang))
            except KeyError:
                continue
        if not self.inputs.pooled.empty:
            paragraphs.append(t("final_method_pooling", lang))
        paragraphs.append(t("final_method_multiplicity", lang))
        if self.implementation() is not None:
            paragraphs.append(t("final_method_implementation", lang))
        return paragraphs

    def glossary(self) -> list[tuple[str, str]]:
        lang = self.lang
        terms = [
            (
                t("verdict_clear_decrease", lang) + " / " + t("verdict_clear_increase", lang),
                t("verdict_definition_clear", lang),
            ),
            (
                t("verdict_likely_decrease", lang) + " / " + t("verdict_likely_increase", lang),
                t("verdict_definition_likely", lang),
            ),
            (t("verdict_none", lang), t("verdict_definition_none", lang)),
            (t("final_term_interval", lang), t("final_define_interval", lang)),
            (t("final_term_sms", lang), t("final_define_sms", lang)),
            (t("final_term_comparison", lang), t("final_define_comparison", lang)),
            (t("final_term_buffer", lang), t("final_define_buffer", lang)),
            (t("final_term_pooled", lang), t("final_define_pooled", lang)),
        ]
        return terms

    def provenance(self) -> dict:
        """Inputs (with hashes), parameters, code and package versions."""
        files = {
            label: {"path": portable_path(path), "sha256": sha256_file(path)}
            for label, path in self.inputs.input_files.items()
        }
        return {
            "study": self.inputs.data.name,
            "study_inputs": self.inputs.data.manifest["inputs"],
            "inputs": files,
            "parameters": {"lang": self.lang, "study": portable_path(self.inputs.paths.study_dir)},
            "code": code_version(),
            "packages": {**package_versions(), **_print_packages()},
        }

    # -- rendering -----------------------------------------------------------
    def context(self) -> dict:
        """What the template receives."""
        lang, info = self.lang, self.study.report
        texts = self.inputs.texts.html
        headline = self.headline_indicator()
        sections = {
            s: {
                "id": s,
                "title": section_title(s, lang),
                "text": Markup(texts[s]) if s in texts else None,
            }
            for s in sections_for(lang)
        }
        provenance = self.provenance()
        commit = (provenance["code"].get("git_commit") or "–")[:12]
        return {
            "lang": lang,
            "t": lambda key, **values: t(key, lang, **values),
            "title": info.title or self.study.title,
            "info": info,
            "period": t(
                "final_period",
                lang,
                start=iso_date(info.project_period.start),
                end=iso_date(info.project_period.end),
            ),
            "date": iso_date(info.date),
            "synthetic": self.study.synthetic,
            "sections": sections,
            "missing": [section_title(s, lang) for s in self.inputs.texts.missing(lang)],
            "texts_file": self.inputs.texts.path.name,
            "key_findings": self.key_findings(),
            "goal_statement": t("final_goal_statement", lang, goal=percent(info.goal_share, lang)),
            "overview": self.implementation_overview(),
            "goal_table": self.goal_table(),
            "goal_figure": self.goal_figure(),
            "headline_label": self._label(headline),
            "programme": self.programme_sentences(headline),
            "headline_table": self.effects_table(headline),
            "headline_figure": self.headline_figure(),
            "pooled_table": self.other_indicators_table(),
            "survey_table": self.survey_table(),
            "survey_effects_table": self.survey_effects_table(),
            "inspection_table": self.inspection_table(),
            "displacement_table": self.displacement_table(),
            "limitations": self.limitations(),
            "methods": self.methods(),
            "glossary": self.glossary(),
            "failed": self.failed(),
            "commit": commit,
            "dirty": bool(provenance["code"].get("git_dirty")),
            "inputs": [
                (label, entry["sha256"][:16])
                for label, entry in {**provenance["study_inputs"], **provenance["inputs"]}.items()
            ],
            "stylesheet": Markup((TEMPLATE_DIR / STYLESHEET).read_text("utf-8")),
        }

    def html(self) -> str:
        """The report as one self-contained HTML document (styles and figures embedded)."""
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        return environment.get_template(TEMPLATE).render(**self.context())


def _print_packages() -> dict[str, str]:
    import importlib.metadata

    versions = {}
    for name in ("weasyprint", "mistune", "jinja2"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
