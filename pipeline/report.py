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
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .data import StudyData, load_processed
from .evaluate import MunicipalityEvaluation, evaluate_municipality
from .i18n import check_language, number, p_value, t
from .paths import RUN_STATUS_FILE
from .plots import plot_effect, plot_effect_over_time, plot_ratio_forest
from .provenance import code_version, package_versions
from .results import EFFECT_COLUMNS
from .synthesis import adjust_pvalues

EFFECTS_FILE = "effects.csv"
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


def paragraph(text: str) -> Html:
    return Html(f"<p>{html.escape(text)}</p>")


def heading(text: str, level: int = 2) -> Html:
    return Html(f"<h{level}>{html.escape(text)}</h{level}>")


def _place_name(data: StudyData, place_id: str) -> str:
    return data.study.place(place_id).name


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
        is_ratio = row["estimand"] == "rate_ratio"
        change = 100 * (row["estimate"] - 1)
        entry.update(
            {
                t("col_place", lang): _place_name(data, row["place_id"]),
                t("col_indicator", lang): _indicator_label(data, row["indicator"], lang),
                t("col_design", lang): t(f"design_{row['design']}", lang),
                t("col_estimate", lang): _maybe(row["estimate"], number(row["estimate"], lang)),
                t("col_change", lang): f"{number(change, lang, 0)} %" if is_ratio else "–",
                t("col_ci", lang): _maybe(
                    row["ci_low"], f"{number(row['ci_low'], lang)}–{number(row['ci_high'], lang)}"
                ),
                t("col_p", lang): p_value(row["p_value"], lang),
                t("col_sms", lang): int(row["sms_level"]),
                t("col_mde", lang): _maybe(
                    row["mde_decrease_pct"], f"{number(row['mde_decrease_pct'], lang, 0)} %"
                ),
                t("col_periods", lang): f"{int(row['n_pre'])}/{int(row['n_post'])}",
            }
        )
        rows.append(entry)
    return pd.DataFrame(rows)


def with_adjusted_pvalues(effects: pd.DataFrame) -> pd.DataFrame:
    """Fill ``p_adjusted`` (Holm) across the primary rate-ratio estimates."""
    effects = effects.copy()
    effects["p_adjusted"] = float("nan")
    if effects.empty:
        return effects
    family = effects["primary"].astype(bool) & (effects["estimand"] == "rate_ratio")
    if family.any():
        effects.loc[family, "p_adjusted"] = adjust_pvalues(
            effects.loc[family, "p_value"].to_numpy(), method="holm"
        )
    return effects


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

    def displacement(self) -> Html | pd.DataFrame:
        """Buffer zones: the buffer's comparison, the WDD test and the WDQ, per target."""
        frame = self.evaluation.to_frame()
        buffers = {p.buffer for p in self.data.study.targets(self.municipality) if p.buffer}
        rows = frame[frame["design"].isin(["wdd", "wdq"]) | frame["place_id"].isin(buffers)]
        if rows.empty:
            return Html(f"<p>{html.escape(t('no_buffers', self.lang))}</p>")
        return localized_effects(self.data, rows, self.lang)

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

    def skipped_table(self) -> pd.DataFrame | Html:
        if not self.evaluation.skipped:
            return Html(f"<p>{html.escape(t('nothing_skipped', self.lang))}</p>")
        return pd.DataFrame(
            [
                {
                    t("col_place", self.lang): _place_name(self.data, s.place_id),
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
        """Direction, size and certainty of each place's change, in plain language, by municipality.

        "Clear" needs a Holm-adjusted p below 0.05: with many places and indicators
        in one report, unadjusted p-values would make some chance findings look clear.
        """
        lang = self.lang
        parts = []
        for municipality, frame in self.primary().groupby("municipality", sort=False):
            items = []
            for _, row in frame.iterrows():
                change = 100 * (row["estimate"] - 1)
                items.append(
                    t(
                        "summary_sentence",
                        lang,
                        place=_place_name(self.data, row["place_id"]),
                        indicator=_indicator_label(self.data, row["indicator"], lang),
                        direction=t(
                            "direction_decrease" if change < 0 else "direction_increase", lang
                        ),
                        size=number(abs(change), lang, 0),
                        certainty=t(
                            "certainty_clear" if row["p_adjusted"] < 0.05 else "certainty_unclear",
                            lang,
                        ),
                        sms=t(f"sms_{int(row['sms_level'])}", lang),
                    )
                )
            parts.append(
                f"<h3>{html.escape(str(municipality))}</h3><ul>"
                + "".join(f"<li>{html.escape(i)}</li>" for i in items)
                + "</ul>"
            )
        return Html("".join(parts))

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

    def forests(self) -> list[Html]:
        """One forest plot of the primary estimates per indicator."""
        figures = []
        primary = self.primary()
        for indicator in self.data.study.indicators:
            frame = primary[primary["indicator"] == indicator.id].reset_index(drop=True)
            if frame.empty:
                continue
            labels = [
                f"{m}: {_place_name(self.data, p)}"
                for m, p in zip(frame["municipality"], frame["place_id"], strict=True)
            ]
            fig, ax = plot_ratio_forest(frame=frame, labels=labels, lang=self.lang)
            title = _indicator_label(self.data, indicator.id, self.lang)
            ax.set_title(title, loc="left", fontsize=10)
            figures.append(figure_html(fig, title))
        return figures

    def write_outputs(self, reports_dir: str) -> Path:
        """Write the study-wide ``effects.csv`` (all municipalities) and its provenance.

        ``p_adjusted`` is Holm's adjustment across the study's primary rate-ratio
        estimates (every place and indicator): it controls the chance of any false
        claim among them. Other rows keep NaN.
        """
        out = Path(reports_dir)
        self.effects[EFFECT_COLUMNS].to_csv(out / EFFECTS_FILE, index=False)
        record = _provenance_record(self.data, self.parameters)
        record["municipalities"] = self.status.to_dict(orient="records")
        (out / "effects.provenance.json").write_text(
            json.dumps(record, indent=2) + "\n", encoding="utf-8"
        )
        return out / EFFECTS_FILE

    def provenance(self) -> Html:
        return provenance_html(_provenance_record(self.data, self.parameters), self.lang)
