"""Simulation from the demo model: the designs against a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.designs import ControlledComparison, DonorComparison
from pipeline.inputs.study import Analysis, ControlledSettings
from pipeline.validation.simulation import design_coverage, simulate_design_data


def test_simulated_data_look_like_a_design_input():
    data = simulate_design_data(np.random.default_rng(0), n_donors=6)
    assert len(data.target) == 84 and set(data.controls) == {"c"}
    assert data.n_pre == 45 and data.n_post == 39
    assert len(data.donors) == 6
    assert data.target["value"].mean() == pytest.approx(14, rel=0.35)


@pytest.mark.slow
def test_controlled_comparison_is_nominal_without_drift():
    result = design_coverage(
        ControlledComparison(), replicates=200, seed=3, drift=False, analysis=PLAIN
    )
    assert abs(result.mean_log_bias) < 0.03
    assert 0.92 <= result.coverage <= 0.99


PLAIN = Analysis(controlled=ControlledSettings(trend=False, drift=False))


@pytest.mark.slow
def test_drift_breaks_the_plain_comparison_but_not_the_calibrated_ones():
    """With areas drifting apart, one control without a drift term undercovers; the donor pool and
    the comparison with a drift variance do not."""
    plain = design_coverage(ControlledComparison(), replicates=200, seed=5, analysis=PLAIN)
    calibrated = design_coverage(ControlledComparison(), replicates=200, seed=5)
    pool = design_coverage(DonorComparison(), replicates=200, seed=5, n_donors=20)
    assert plain.coverage < 0.93
    assert 0.92 <= calibrated.coverage <= 0.995
    assert 0.92 <= pool.coverage <= 0.99
    assert abs(pool.mean_log_bias) < 0.03
