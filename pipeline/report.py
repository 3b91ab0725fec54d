"""What the notebooks display: report sections built from results, in one language.

The notebooks stay thin: a parameters cell, then one call per section. Every
section returns an object a notebook displays by itself (an :class:`Html`
fragment, a DataFrame or a matplotlib figure), and nothing here prints.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator
from scipy import stats

from .actions import TOTAL, implementation_shares, implementation_vs_effect, plot_action_timeline
from .data import StudyData, load_processed
from .designs.panel import panel_effects
from .designs.pooled_did import pooled_did_effect
from .errors import EstimationError
from .evaluate import MunicipalityEvaluation, evaluate_municipality
from .i18n import check_language, number, p_text, p_value, t
from .inspection import inspection_change, plot_inspection
from .outcomes import ALL_TARGETS, survey_areas
from .paths import RUN_STATUS_FILE
from .plots import plot_effect, plot_effect_over_time
from .provenance import code_version, package_versions
from .results import EFFECT_COLUMNS, Effect
from .survey import plot_shares, share_unsafe
from .synthesis import adjust_pvalues, forest_plot, meta_analyse

#: Estimands compared on the log scale (ratios); the others are differences.
RATIO_ESTIMANDS = frozenset(
    {
        "rate_ratio",
        "rate_ratio_per_year",
        "relative_effect_size",
        "odds_ratio",
        "cumulative_odds_ratio",
        "displacement_quotient",
    }
)

EFFECTS_FILE = "effects.csv"
POOLED_FILE = "pooled_effects.csv"
POOLED_COLUMNS = [
    "indicator",
    "design",
    "estimand",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "k",
    "tau2",
    "i2_percent",
    "pi_low",
    "pi_high",
    "method",
]
PROVENANCE_FILE = "provenance.json"


class Html(str):
    """An HTML fragment that notebooks render instead of printing."""

    def _repr_html_(self) -> str:
        return str(self)


def _banner(data: StudyData, lang: str) -> str:
    if not data.study.synthetic:
        return ""
    return (
        '<div style="border:3px solid #D55E00;background:#fff3e6;padding:0.8em 1em;'
        'margin:0.5em 0 1em 0;font-weight:bold;font-size:1.1em" class="synthetic-banner">'
        f"⚠ {html.escape(t('banner_synthetic', lang))}</div>"
    )


def figure_html(fig, alt: str) -> Html:
    """A figure as an embedded PNG with alternative text, then closed.

    Embedding the image ourselves keeps reports self-contained and gives every
    figure a text alternative for screen readers.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Html(
        f'<figure style="margin:0.5em 0"><img src="data:image/png;base64,{data}" '
        f'alt="{html.escape(alt, quote=True)}" style="max-width:100%"/></figure>'
    )


_FIGURE_TERMS = (
    "colour_band",
    "planned_start",
    "planned",
    "started",
    "done",
    "cancelled",
    "before",
    "after",
    "red",
    "yellow",
    "green",
    "months",
)


def localize_figure(fig, lang: str):
    """Translate the English words the statistics modules' figures write (legends, bands, ticks)."""
    if lang == "en":
        return fig
    pattern = re.compile("|".join(rf"\b{re.escape(t('fig_' + k, 'en'))}\b" for k in _FIGURE_TERMS))
    words = {t("fig_" + k, "en"): t("fig_" + k, lang) for k in _FIGURE_TERMS}
    for text in fig.findobj(matplotlib.text.Text):
        content = text.get_text()
        if content:
            text.set_text(pattern.sub(lambda m: words[m.group(0)], content))
    return fig


def paragraph(text: str) -> Html:
    return Html(f"<p>{html.escape(text)}</p>")


def heading(text: str, level: int = 2) -> Html:
    return Html(f"<h{level}>{html.escape(text)}</h{level}>")


def _place_name(data: StudyData, place_id: str, lang: str = "sv") -> str:
    # Municipality-level rows (the survey) have no place; read back from CSV they are NaN.
    if not isinstance(place_id, str) or place_id == ALL_TARGETS:
        return t("all_target_areas", lang)
    return data.study.place(place_id).name


def _signed(value: float, lang: str, digits: int) -> str:
    return ("+" if value > 0 else "") + number(value, lang, digits)


def change_text(estimand: str, estimate: float, lang: str) -> str:
    """The estimate as a change a reader takes in: per cent, percentage points or points."""
    if estimate != estimate:
        return "–"
    if estimand == "rate_ratio":
        return f"{_signed(100 * (estimate - 1), lang, 0)} %"
    if estimand in ("odds_ratio", "cumulative_odds_ratio"):
        return t("change_odds", lang, value=_signed(100 * (estimate - 1), lang, 0))
    if estimand == "share_difference_pp":
        return t("change_pp", lang, value=_signed(estimate, lang, 1))
    if estimand == "mean_score_change":
        return t("change_points", lang, value=_signed(estimate, lang, 1))
    return "–"


def _indicator_label(data: StudyData, indicator_id: str, lang: str) -> str:
    indicator = data.study.indicator(indicator_id)
    return indicator.label_sv if lang == "sv" else indicator.label_en


def _maybe(value: float, text: str) -> str:
    return "–" if value != value else text  # NaN: not defined for this estimand


def localized_effects(
    data: StudyData, frame: pd.DataFrame, lang: str, *, with_municipality: bool = False
) -> pd.DataFrame:
    """Effects as a reader sees them: names, labels, per cent change, CI and p in the report language."""
    rows = []
    for _, row in frame.iterrows():
        entry = {}
        if with_municipality:
            entry[t("col_municipality", lang)] = row["municipality"]
        entry.update(
            {
                t("col_place", lang): _place_name(data, row["place_id"], lang),
                t("col_indicator", lang): _indicator_label(data, row["indicator"], lang),
                t("col_design", lang): t(f"design_{row['design']}", lang),
                t("col_measure", lang): t(f"measure_{row['estimand']}", lang),
                t("col_estimate", lang): _maybe(row["estimate"], number(row["estimate"], lang)),
                t("col_change", lang): change_text(row["estimand"], row["estimate"], lang),
                t("col_ci", lang): _maybe(
                    row["ci_low"], f"{number(row['ci_low'], lang)}–{number(row['ci_high'], lang)}"
                ),
                t("col_p", lang): p_value(row["p_value"], lang),
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


def with_adjusted_pvalues(effects: pd.DataFrame) -> pd.DataFrame:
    """Fill ``p_adjusted`` (Holm) across the primary estimates of every indicator and place."""
    effects = effects.copy()
    effects["p_adjusted"] = float("nan")
    if effects.empty:
        return effects
    family = effects["primary"].astype(bool) & effects["p_value"].notna()
    if family.any():
        effects.loc[family, "p_adjusted"] = adjust_pvalues(
            effects.loc[family, "p_value"].to_numpy(), method="holm"
        )
    return effects


def implementation_table(table: pd.DataFrame, municipality: str, lang: str) -> pd.DataFrame:
    """One municipality's implementation shares per horizon, as a reader sees them."""
    rows = []
    for row in table[table["municipality"] == municipality].itertuples(index=False):
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
            }
        )
    return pd.DataFrame(rows)


def _log_scale_estimates(frame: pd.DataFrame, ratio: bool) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and standard errors recovered from 95 % intervals (log scale for ratios)."""
    low, high, est = (frame[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high", "estimate"))
    if ratio:
        low, high, est = np.log(low), np.log(high), np.log(est)
    # Intervals from t references or inverted exact tests are not exactly est ± 1.96 se;
    # half the width over 1.96 is the normal-equivalent standard error.
    return est, (high - low) / (2 * 1.959963984540054)


def provenance_html(record: dict, lang: str) -> Html:
    code = record["code"]
    commit = (code.get("git_commit") or "–")[:12]
    dirty = t("provenance_dirty", lang) if code.get("git_dirty") else ""
    items = "".join(
        f"<li><code>{html.escape(Path(v['path']).name)}</code>: <code>{v['sha256'][:16]}…</code></li>"
        for v in record["inputs"].values()
    )
    params = "".join(
        f"<li>{html.escape(str(k))} = <code>{html.escape(str(v))}</code></li>"
        for k, v in record.get("parameters", {}).items()
    )
    packages = ", ".join(f"{k} {v}" for k, v in record["packages"].items())
    return Html(
        "<div class='provenance' style='font-size:0.85em;color:#444'>"
        f"<p>{html.escape(t('provenance_text', lang, commit=commit, dirty=dirty, version=code['package_version']))}</p>"
        f"<ul>{items}</ul><ul>{params}</ul><p>{html.escape(packages)}</p></div>"
    )


def _provenance_record(data: StudyData, parameters: dict) -> dict:
    return {
        "study": data.name,
        "inputs": data.manifest["inputs"],
        "parameters": parameters,
        "code": code_version(),
        "packages": package_versions(),
    }


@dataclass(frozen=True)
class MunicipalityReport:
    """The sections of one municipality's evaluation report."""

    data: StudyData
    municipality: str
    lang: str
    evaluation: MunicipalityEvaluation
    parameters: dict = field(default_factory=dict)

    @classmethod
    def build(cls, processed_dir: str, municipality: str, lang: str = "sv") -> MunicipalityReport:
        check_language(lang)
        data = load_processed(processed_dir)
        evaluation = evaluate_municipality(data, municipality)
        parameters = {"processed_dir": processed_dir, "municipality": municipality, "lang": lang}
        return cls(data, municipality, lang, evaluation, parameters)

    def header(self) -> Html:
        lang = self.lang
        return Html(
            _banner(self.data, lang)
            + f"<h1>{html.escape(t('municipality_title', lang, municipality=self.municipality))}</h1>"
            + f"<p><b>{html.escape(t('study_label', lang))}:</b> {html.escape(self.data.study.title)}</p>"
            + f"<p>{html.escape(t('municipality_intro', lang))}</p>"
        )

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
        return Html("".join(f"<p><i>{html.escape(n)}</i></p>" for n in unique))

    def results_table(self, *, primary_only: bool = True) -> pd.DataFrame:
        frame = self.evaluation.primary() if primary_only else self.evaluation.to_frame()
        return localized_effects(self.data, frame, self.lang)

    def displacement(self):
        """Buffer zones: the buffer's comparison, the WDD test and the WDQ, per target."""
        frame = self.evaluation.to_frame()
        buffers = {p.buffer for p in self.data.study.targets(self.municipality) if p.buffer}
        rows = frame[frame["design"].isin(["wdd", "wdq"]) | frame["place_id"].isin(buffers)]
        if rows.empty:
            return Html(f"<p>{html.escape(t('no_buffers', self.lang))}</p>")
        return localized_effects(self.data, rows, self.lang).style.hide(axis="index")

    def figures(self, indicator: str | None = None) -> list[Html]:
        """One figure per target: the primary design's observed and counterfactual series."""
        indicator = indicator or self.data.study.indicators[0].id
        figures = []
        for place in self.data.study.targets(self.municipality):
            try:
                effect = self.evaluation.effect(place.id, indicator)
            except KeyError:
                continue
            title = (
                f"{place.name} – {_indicator_label(self.data, indicator, self.lang)} "
                f"({t('design_' + effect.design, self.lang)})"
            )
            start = pd.Period(place.intervention_start, freq="M")
            fig, (top, bottom) = plt.subplots(
                2, 1, figsize=(8, 5.6), height_ratios=(3, 2), layout="constrained"
            )
            plot_effect(
                effect=effect,
                start=start,
                shocks=self.data.study.shocks,
                title=title,
                lang=self.lang,
                ax=top,
            )
            plot_effect_over_time(effect=effect, start=start, lang=self.lang, ax=bottom)
            bottom.set_xlim(top.get_xlim())
            figures.append(figure_html(fig, title))
        return figures

    def perceived_safety(self) -> list:
        """Weighted share unsafe per area and wave (aggregates only, small cells suppressed)."""
        lang, data = self.lang, self.data
        if data.survey is None or data.study.survey is None:
            return [paragraph(t("no_survey", lang))]
        frame = survey_areas(data, self.municipality)
        if frame.empty:
            return [paragraph(t("no_survey", lang))]
        settings = data.study.survey
        shares = share_unsafe(
            frame, question=settings.question, by="area", unsafe=settings.unsafe_answers
        )
        label = {a: t(f"area_{a}", lang) for a in ("target", "comparison")}
        table = shares.table.assign(area=shares.table["area"].map(label))
        rows = []
        for row in table.itertuples(index=False):
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
                        f"{number(100 * row.ci_lower, lang, 1)}–{number(100 * row.ci_upper, lang, 1)} %",
                    ),
                    t("col_flag", lang): flag,
                }
            )
        fig, ax = plot_shares(
            replace(shares, table=table),  # the legend shows the areas as a reader names them
            title=_indicator_label(data, settings.indicator, lang),
        )
        ax.set_ylabel(
            t("axis_share_unsafe", lang, answers="/".join(map(str, settings.unsafe_answers)))
        )
        estimates = self.evaluation.to_frame()
        estimates = estimates[estimates["indicator"] == settings.indicator]
        return [
            paragraph(t("survey_intro", lang)),
            pd.DataFrame(rows).style.hide(axis="index"),
            figure_html(fig, _indicator_label(data, settings.indicator, lang)),
            localized_effects(data, estimates, lang).style.hide(axis="index"),
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
                change=_signed(change.mean_change, lang, 1),
                low=number(change.ci_low, lang, 1),
                high=number(change.ci_high, lang, 1),
                p=p_text(change.permutation_p, lang),
            )
            fig, ax = plot_inspection(change, title=place.name)
            ax.set_xlabel(t("axis_inspection", lang))
            parts += [figure_html(localize_figure(fig, lang), caption), paragraph(caption)]
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
        table = implementation_table(shares.table, self.municipality, lang)
        fig, _ = plot_action_timeline(
            actions,
            project_start=settings.project_start,
            horizons_months=settings.horizons_months,
            title=t("section_action_plan", lang),
        )
        return [
            paragraph(t("action_plan_intro", lang)),
            table.style.hide(axis="index"),
            figure_html(localize_figure(fig, lang), t("section_action_plan", lang)),
        ]

    def skipped_table(self) -> pd.DataFrame | Html:
        if not self.evaluation.skipped:
            return Html(f"<p>{html.escape(t('nothing_skipped', self.lang))}</p>")
        return pd.DataFrame(
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

    def methods(self) -> Html:
        # The displacement design reports its buffer comparison, WDD and WDQ as separate rows.
        alias = {"wdd": "displacement", "wdq": "displacement"}
        used = dict.fromkeys(alias.get(e.design, e.design) for e in self.evaluation.effects)
        parts = [f"<p>{html.escape(t('method_' + d, self.lang))}</p>" for d in used]
        parts.append(f"<p>{html.escape(t('primary_rule', self.lang))}</p>")
        return Html("".join(parts))

    def write_outputs(self, output_dir: str) -> Path:
        """Write ``effects.csv`` and its provenance into ``output_dir``."""
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.evaluation.to_frame()[EFFECT_COLUMNS].to_csv(out / EFFECTS_FILE, index=False)
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

    @classmethod
    def build(cls, processed_dir: str, reports_dir: str, lang: str = "sv") -> ComparativeReport:
        check_language(lang)
        data = load_processed(processed_dir)
        reports = Path(reports_dir)
        status = pd.DataFrame(
            json.loads((reports / RUN_STATUS_FILE).read_text("utf-8"))["municipalities"]
        )
        frames = [
            pd.read_csv(reports / row["municipality"] / EFFECTS_FILE)
            for _, row in status.iterrows()
            if row["status"] == "ok" and (reports / row["municipality"] / EFFECTS_FILE).is_file()
        ]
        effects = (
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EFFECT_COLUMNS)
        )
        effects = with_adjusted_pvalues(effects)
        parameters = {"processed_dir": processed_dir, "reports_dir": reports_dir, "lang": lang}
        return cls(data, lang, effects, status, parameters)

    @property
    def failed(self) -> list[str]:
        return self.status.loc[self.status["status"] != "ok", "municipality"].tolist()

    def header(self) -> Html:
        lang = self.lang
        warning = ""
        if self.failed:
            warning = (
                "<p style='color:#D55E00;font-weight:bold'>"
                f"{html.escape(t('failed_warning', lang, municipalities=', '.join(self.failed)))}</p>"
            )
        return Html(
            _banner(self.data, lang)
            + f"<h1>{html.escape(t('comparative_title', lang, title=self.data.study.title))}</h1>"
            + f"<p>{html.escape(t('comparative_intro', lang))}</p>"
            + warning
        )

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
        if self.effects.empty:
            return self.effects
        return self.effects[self.effects["primary"].astype(bool)].reset_index(drop=True)

    def summary_sentences(self) -> Html:
        """Direction, size and certainty of each primary change, in plain language, by municipality.

        "Clear" needs a Holm-adjusted p below 0.05: with many places and indicators
        in one report, unadjusted p-values would make some chance findings look clear.
        """
        lang = self.lang
        implementation = self._implementation()
        parts = [paragraph(t("summary_intro", lang))]
        for municipality, frame in self.primary().groupby("municipality", sort=False):
            items = [self._summary_line(rows) for _, rows in frame.groupby("indicator", sort=False)]
            if implementation is not None:
                last = implementation[
                    (implementation["municipality"] == municipality)
                    & (implementation["horizon_months"] == implementation["horizon_months"].max())
                ]
                for row in last.itertuples(index=False):
                    if row.n:
                        items.append(
                            t(
                                "summary_implementation",
                                lang,
                                k=int(row.k),
                                n=int(row.n),
                                horizon=int(row.horizon_months),
                                share=number(100 * row.share, lang, 0),
                                low=number(100 * row.wilson_lower, lang, 0),
                                high=number(100 * row.wilson_upper, lang, 0),
                            )
                        )
            parts.append(
                f"<h3>{html.escape(str(municipality))}</h3><ul>"
                + "".join(f"<li>{html.escape(i)}</li>" for i in items)
                + "</ul>"
            )
        return Html("".join(parts))

    def _summary_line(self, rows: pd.DataFrame) -> str:
        """One indicator of one municipality: each place's change in a few words."""
        lang = self.lang
        sms = ", ".join(t(f"sms_{level}", lang) for level in sorted(set(rows["sms_level"])))
        items = []
        for _, row in rows.iterrows():
            estimand, estimate = row["estimand"], row["estimate"]
            change = 100 * (estimate - 1) if estimand in RATIO_ESTIMANDS else estimate
            size_key, digits = {
                "odds_ratio": ("summary_size_odds", 0),
                "cumulative_odds_ratio": ("summary_size_odds", 0),
                "share_difference_pp": ("summary_size_pp", 1),
                "mean_score_change": ("summary_size_points", 1),
            }.get(estimand, ("summary_size_pct", 0))
            certainty = "certainty_clear" if row["p_adjusted"] < 0.05 else "certainty_unclear"
            items.append(
                t(
                    "summary_item",
                    lang,
                    place=_place_name(self.data, row["place_id"], lang) + ":",
                    direction=t("direction_decrease" if change < 0 else "direction_increase", lang),
                    size=t(size_key, lang, value=number(abs(change), lang, digits)),
                    certainty=t(certainty, lang),
                )
            )
        label = _indicator_label(self.data, rows["indicator"].iloc[0], lang)
        return t("summary_line", lang, indicator=label, sms=sms, items="; ".join(items))

    def summary_table(self) -> pd.DataFrame:
        """Primary estimates of every municipality, with Holm-adjusted p-values."""
        primary = self.primary()
        table = localized_effects(self.data, primary, self.lang, with_municipality=True)
        if not table.empty:
            table.insert(
                table.columns.get_loc(t("col_p", self.lang)) + 1,
                t("col_p_adjusted", self.lang),
                [p_value(v, self.lang) for v in primary["p_adjusted"]],
            )
        return table

    def _pooling_inputs(self):
        """Per indicator: the primary estimates pooled (buffers left out) and their meta-analysis."""
        primary = self.primary()
        # Buffers measure displacement, not the measures' effect: they are not pooled.
        buffers = {p.id for p in self.data.study.places if p.role == "buffer"}
        primary = primary[~primary["place_id"].isin(buffers)]
        available = set(
            zip(self.data.series["place_id"], self.data.series["indicator"], strict=True)
        )
        for indicator in self.data.study.indicators:
            frame = primary[primary["indicator"] == indicator.id].reset_index(drop=True)
            if frame.empty:
                continue
            ratio = frame["estimand"].iloc[0] in RATIO_ESTIMANDS
            result = None
            # Targets whose designs could not estimate (no events before or after, too
            # short) would leave outcome-selected survivors: no meta-analysis of those.
            missing = []
            if indicator.family == "count":
                estimated = set(frame["place_id"])
                missing = [
                    p.id
                    for p in self._targets()
                    if (p.id, indicator.id) in available and p.id not in estimated
                ]
            if len(frame) >= 2 and not missing:
                y, se = _log_scale_estimates(frame, ratio)
                labels = [
                    f"{m}: {_place_name(self.data, p, self.lang)}"
                    for m, p in zip(frame["municipality"], frame["place_id"], strict=True)
                ]
                result = meta_analyse(y, se, labels)
            yield indicator, frame, ratio, result, missing

    def _targets(self) -> list:
        """The targets of the municipalities whose evaluation succeeded."""
        ok = set(self.status.loc[self.status["status"] == "ok", "municipality"])
        return [p for p in self.data.study.targets() if p.municipality in ok]

    @cached_property
    def pooled(self) -> pd.DataFrame:
        """Study-wide estimates per indicator: random- and fixed-effect pooling, and the panel.

        Written to ``pooled_effects.csv``. The panel takes the targets of the
        municipalities whose evaluation succeeded, against every control area.
        """
        rows = []
        for indicator, frame, ratio, result, _ in self._pooling_inputs():
            if result is None:
                continue
            back = np.exp if ratio else (lambda v: v)
            for pooled in (result.random, result.fixed):
                rows.append(
                    {
                        "indicator": indicator.id,
                        "design": f"meta_{pooled.model}",
                        "estimand": frame["estimand"].iloc[0],
                        "estimate": back(pooled.estimate),
                        "ci_low": back(pooled.ci_low),
                        "ci_high": back(pooled.ci_high),
                        "p_value": pooled.pvalue,
                        "k": result.k,
                        "tau2": result.tau2,
                        "i2_percent": result.i2,
                        "pi_low": back(result.pi_low) if pooled.model == "random" else np.nan,
                        "pi_high": back(result.pi_high) if pooled.model == "random" else np.nan,
                        "method": f"{pooled.ci_method}; tau2 by {result.method}",
                    }
                )
        targets = self._targets()
        available = set(
            zip(self.data.series["place_id"], self.data.series["indicator"], strict=True)
        )
        for indicator in self.data.study.indicators:
            with_series = [p for p in targets if (p.id, indicator.id) in available]
            if indicator.family != "count" or len(with_series) < 2:
                continue
            for design in (panel_effects, pooled_did_effect):
                try:
                    pooled = design(self.data, indicator.id, with_series)
                except EstimationError:
                    continue
                if isinstance(pooled, list):
                    pooled = pooled[0]
                rows.append(self._pooled_row(indicator.id, pooled, len(with_series)))
        return pd.DataFrame(rows, columns=POOLED_COLUMNS)

    @staticmethod
    def _pooled_row(indicator_id: str, pooled: Effect, k: int) -> dict:
        """A study-wide estimate of every target together, as a ``pooled_effects.csv`` row."""
        return {
            "indicator": indicator_id,
            "design": pooled.design,
            "estimand": pooled.estimand,
            "estimate": pooled.estimate,
            "ci_low": pooled.ci_low,
            "ci_high": pooled.ci_high,
            "p_value": pooled.p_value,
            "k": k,
            "tau2": np.nan,
            "i2_percent": np.nan,
            "pi_low": np.nan,
            "pi_high": np.nan,
            "method": pooled.method,
        }

    def synthesis(self) -> list:
        """Per indicator: fixed- and random-effects pooling of the primary estimates, a forest
        plot, and the panel of all targets.

        Ratios are pooled on the log scale, differences (percentage points,
        inspection points) as they are.
        """
        lang = self.lang
        parts: list = [paragraph(t("synthesis_intro", lang))]
        for indicator, frame, ratio, result, missing in self._pooling_inputs():
            label = _indicator_label(self.data, indicator.id, lang)
            if missing:
                parts.append(
                    paragraph(
                        t(
                            "synthesis_selected",
                            lang,
                            indicator=label,
                            k=len(frame),
                            missing=len(missing),
                        )
                    )
                )
            elif result is None:
                parts.append(paragraph(t("synthesis_too_few", lang, indicator=label, k=len(frame))))
            if result is None:
                parts.extend(self._panel_sentences(indicator.id, label))
                continue
            back = np.exp if ratio else (lambda v: v)
            pi = (
                f"{number(back(result.pi_low), lang)}–{number(back(result.pi_high), lang)}"
                if np.isfinite(result.pi_low)
                else t("not_defined", lang)
            )
            parts.append(
                paragraph(
                    t(
                        "synthesis_sentence",
                        lang,
                        indicator=label,
                        estimate=number(back(result.random.estimate), lang),
                        low=number(back(result.random.ci_low), lang),
                        high=number(back(result.random.ci_high), lang),
                        p=p_text(result.random.pvalue, lang),
                        k=result.k,
                        fixed=number(back(result.fixed.estimate), lang),
                        tau2=number(result.tau2, lang, 3),
                        i2=number(result.i2, lang, 0),
                        pi=pi,
                    )
                )
            )
            fig, _ = forest_plot(
                result,
                xlabel=t(f"measure_{frame['estimand'].iloc[0]}", lang),
                log_scale=ratio,
                null=1.0 if ratio else 0.0,
                ratio_scale=ratio,
            )
            fig.suptitle(label, x=0.02, ha="left", fontsize=10)
            parts.append(figure_html(fig, label))
            parts.extend(self._panel_sentences(indicator.id, label))
        return parts

    def _panel_sentences(self, indicator_id: str, label: str) -> list:
        """The study-wide estimates of every target together, one sentence each."""
        lang = self.lang
        rows = self.pooled[
            (self.pooled["indicator"] == indicator_id)
            & self.pooled["design"].isin(["panel", "pooled_did"])
        ]
        return [
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
            )
            for row in rows.itertuples(index=False)
        ]

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
        table = self._implementation()
        if table is None:
            return [paragraph(t("no_action_plan", lang))]
        frames = []
        for municipality in [*self.data.study.municipality_names, TOTAL]:
            part = implementation_table(table, municipality, lang)
            if not part.empty:
                name = t("total_label", lang) if municipality == TOTAL else municipality
                part.insert(0, t("col_municipality", lang), name)
                frames.append(part)
        parts: list = [
            paragraph(t("action_plan_intro", lang)),
            pd.concat(frames, ignore_index=True).style.hide(axis="index"),
        ]
        survey = self.data.study.survey
        primary = self.primary()
        if survey is None or primary.empty:
            return parts
        effects = primary[primary["indicator"] == survey.indicator].rename(
            columns={"ci_low": "ci_lower", "ci_high": "ci_upper"}
        )
        horizon = max(self.data.study.action_plan.horizons_months)
        try:
            paired = implementation_vs_effect(
                table, effects, horizon_months=horizon, null=1.0, effect_label="OR"
            )
        except (ValueError, KeyError):
            return parts
        m = len(paired.table)
        r_crit = "–"
        if m >= 3:
            q = stats.t.ppf(0.975, m - 2)
            r_crit = number(q / np.sqrt(q**2 + m - 2), lang)
        title = t("section_implementation", lang)
        fig, ax = paired.plot(title=title)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=2))  # 0.25, 0.5, 1, 2, 4
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: ""))
        ax.set_ylabel(t("axis_survey_odds", lang))
        ax.set_xlabel(t("axis_implementation", lang, horizon=horizon))
        parts += [
            figure_html(fig, title),
            paragraph(t("implementation_text", lang, horizon=horizon, r_crit=r_crit)),
        ]
        return parts

    def write_outputs(self, reports_dir: str) -> Path:
        """Write the study-wide ``effects.csv`` (all municipalities), ``pooled_effects.csv``
        and their provenance.

        ``p_adjusted`` is Holm's adjustment across the study's primary estimates
        (every indicator and place): it controls the chance of any false claim
        among them. Other rows keep NaN.
        """
        out = Path(reports_dir)
        self.effects[EFFECT_COLUMNS].to_csv(out / EFFECTS_FILE, index=False)
        self.pooled.to_csv(out / POOLED_FILE, index=False)
        record = _provenance_record(self.data, self.parameters)
        record["municipalities"] = self.status.to_dict(orient="records")
        (out / "effects.provenance.json").write_text(
            json.dumps(record, indent=2) + "\n", encoding="utf-8"
        )
        return out / EFFECTS_FILE

    def provenance(self) -> Html:
        return provenance_html(_provenance_record(self.data, self.parameters), self.lang)
