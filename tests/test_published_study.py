"""A published analysis fed to the pipeline as a study: Lopez Bernal, Cummins & Gasparrini (2017)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.evaluation.municipality import evaluate_municipality
from pipeline.inputs.prepare import prepare_study

STUDY_YML = """
title: Sicily smoking ban (Lopez Bernal, Cummins & Gasparrini 2017)
synthetic: false
municipalities:
  - {{name: Sicilia, kommunkod: "9999"}}
places:
  - {{id: sicily, name: Sicily, municipality: Sicilia, role: target, intervention_start: 2005-01-01}}
indicators:
  - {{id: aces, label_sv: Akuta koronara händelser, label_en: Acute coronary events, family: count,
     better: lower, unit: events per month}}
analysis:
  its: {{harmonic_pairs: {pairs}, inference: {inference}, reference: normal, drift: false}}
"""


def _study(tmp_path, reference_dir, pairs: int, inference: str):
    data = pd.read_csv(reference_dir / "lopezbernal_2017_sicily" / "sicily.csv")
    folder = tmp_path / f"sicily_{inference}"
    folder.mkdir()
    (folder / "study.yml").write_text(STUDY_YML.format(pairs=pairs, inference=inference), "utf-8")
    series = pd.DataFrame(
        {
            "place_id": "sicily",
            "indicator": "aces",
            "period": [f"{y}-{m:02d}" for y, m in zip(data["year"], data["month"], strict=True)],
            "value": data["aces"],
            "exposure": data["stdpop"],
        }
    )
    series.to_csv(folder / "series.csv", index=False)
    prepared = prepare_study(folder, tmp_path / "processed" / folder.name)
    return evaluate_municipality(prepared, "Sicilia").effect("sicily", "aces", "its")


@pytest.mark.reference
@pytest.mark.parametrize(
    ("pairs", "inference", "published"),
    [(0, "poisson", (0.894, 0.865, 0.925)), (2, "quasipoisson", (0.885, 0.839, 0.933))],
)
def test_pipeline_its_reproduces_the_published_rate_ratios(
    tmp_path, reference_dir, pairs, inference, published
):
    effect = _study(tmp_path, reference_dir, pairs, inference)
    assert (
        round(effect.estimate, 3),
        round(effect.ci_low, 3),
        round(effect.ci_high, 3),
    ) == published
    assert effect.sms_level == 2 and effect.estimand == "rate_ratio"
