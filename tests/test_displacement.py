"""Weighted displacement quotient and weighted displacement difference test.

Published numbers reproduced here:

* Wheeler & Ratcliffe (2018), worked example, as checked in ``tests/testthat/test-wdd.R``
  of the authors' R package ``apwheele/ptools`` (commit e1142e9): WDD -118,
  SE sqrt(1568), z -2.98, 95 % CI -196 to -40.
* Wheeler (2021-01-09), "The WDD test with different pre/post time periods": unweighted
  estimate -10 with variance 250; per-year estimate -20 with variance 115, 95 % CI
  about -41 to +1.
* ``ptools`` test-wdd.R: area weights (Wheeler 2021-02-23) and harm weights
  (Wheeler 2020-11-19), and its three small sanity examples.

No published worked WDQ example could be located; the WDQ is checked against exact
rational arithmetic done by hand (``fractions.Fraction``) and against the sign rules
of Bowers & Johnson (2003) / Guerette (2009, App. C).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.methods.displacement import WDDResult, wdd, wdd_harm
from pipeline.methods.displacement_quotient import WDQResult, wdq

# Published input counts, (pre, post): Wheeler & Ratcliffe (2018) / ptools test-wdd.R.
PAPER = {"T": (207, 110), "Ct": (308, 318), "D": (178, 157), "Cd": (150, 140)}
# Wheeler (2021-01-09): two years pre, one year post.
BLOG = {"T": (80, 20), "Ct": (100, 50)}
BLOG_TIME_WEIGHTS = (2, 1)


def _paper() -> WDDResult:
    return wdd(PAPER["T"], PAPER["Ct"], PAPER["D"], PAPER["Cd"], alpha=0.05)


# --------------------------------------------------------------------------- WDD


def test_paper_example_reproduces_published_numbers():
    r = _paper()
    assert r.estimate == -118
    assert r.variance == pytest.approx(1568)
    assert r.std_error == pytest.approx(math.sqrt(1568))
    assert round(r.z, 2) == -2.98
    assert round(r.ci_low) == -196
    assert round(r.ci_high) == -40


def test_paper_example_components_and_p_value():
    r = _paper()
    # dT - dCt = -97 - 10 and dD - dCd = -21 + 10; variances are the count sums.
    assert r.local_estimate == -107
    assert r.local_std_error**2 == pytest.approx(207 + 110 + 308 + 318)
    assert r.displacement_estimate == -11
    assert r.displacement_std_error**2 == pytest.approx(178 + 157 + 150 + 140)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(118 / math.sqrt(1568)))
    assert 0.002 < r.p_value < 0.004


@pytest.mark.parametrize(
    ("args", "attribute", "expected"),
    [
        # ptools test-wdd.R: wdd(control, treated[, disp_control, disp_treated])
        (((20, 10), (20, 20)), "local_estimate", -10),
        (((20, 20), (20, 20), (20, 10), (20, 20)), "displacement_estimate", -10),
        (((20, 10), (20, 20), (20, 10), (20, 20)), "estimate", -20),
    ],
)
def test_ptools_small_examples(args, attribute, expected):
    assert getattr(wdd(*args), attribute) == expected


def test_without_displacement_area_is_plain_difference_in_differences():
    r = wdd((50, 30), (40, 45))
    assert r.estimate == (30 - 50) - (45 - 40)
    assert r.variance == pytest.approx(50 + 30 + 40 + 45)
    assert not r.has_displacement
    assert list(r.to_frame()["component"]) == ["local", "total"]


def test_timeweights_blog_example():
    unweighted = wdd(BLOG["T"], BLOG["Ct"])
    assert unweighted.estimate == -10
    assert unweighted.variance == pytest.approx(250)

    r = wdd(BLOG["T"], BLOG["Ct"], time_weights=BLOG_TIME_WEIGHTS)
    assert r.estimate == pytest.approx(-20)
    assert r.variance == pytest.approx(115)  # 20/1 + 80/4 + 50/1 + 100/4
    # The post rounds the interval to [+1, -41].
    assert round(r.ci_low) == -41
    assert round(r.ci_high) == 1
    assert r.p_value > 0.05


def test_area_weights_ptools():
    # ptools test-wdd.R "Area Weights": area_weights = c(control, treated, disp_control,
    # disp_treated) = c(0.9, 1.2, 1.6, 1.5); expected Est_Total, SE_Total, Z, LowCI, HighCI.
    r = wdd(
        PAPER["T"],
        PAPER["Ct"],
        PAPER["D"],
        PAPER["Cd"],
        area_weights={"Ct": 0.9, "T": 1.2, "Cd": 1.6, "D": 1.5},
        alpha=0.05,
    )
    expected = [-99.69444444, 35.4280755, -2.813995483, -169.1321965, -30.25669241]
    got = [r.estimate, r.std_error, r.z, r.ci_low, r.ci_high]
    assert got == pytest.approx(expected, rel=1e-8)


def test_time_and_area_weights_combine_multiplicatively():
    r = wdd((80, 20), (100, 50), time_weights=(2, 1), area_weights={"T": 2.0, "Ct": 1.0})
    assert r.estimate == pytest.approx((20 / 2 - 80 / 4) - (50 - 100 / 2))
    assert r.variance == pytest.approx(20 / 4 + 80 / 16 + 50 + 100 / 4)


def test_wdd_harm_ptools():
    # ptools test-wdd.R "Cumulative Harm" (Wheeler 2020, harm weights), ptools argument
    # order wdd(control, treated).
    parts = {
        "mv": ((133, 91), (130, 74)),
        "th": ((388, 305), (327, 202)),
        "bu": ((148, 97), (398, 190)),
        "rob": ((86, 64), (144, 92)),
        "ass": ((94, 67), (183, 96)),
    }
    results = [wdd(treated, control) for control, treated in parts.values()]
    h = wdd_harm(results, weights=[3, 2, 5, 7, 10], labels=list(parts), alpha=0.05)
    expected = [-1721.0, 304.10360077, -5.65925558, -2317.03210507, -1124.96789493]
    assert [h.estimate, h.std_error, h.z, h.ci_low, h.ci_high] == pytest.approx(expected, rel=1e-5)

    plain = wdd_harm(
        [r.estimate for r in results], [r.std_error for r in results], [3, 2, 5, 7, 10], alpha=0.05
    )
    assert plain.estimate == h.estimate and plain.std_error == pytest.approx(h.std_error)
    frame = h.to_frame()
    assert list(frame["component"]) == [*parts, "total"]
    assert frame["estimate"].iloc[:-1].sum() == pytest.approx(h.estimate)


def test_wdd_confidence_interval_covers_truth_by_simulation():
    # Poisson counts with a true WDD of -30 crimes: the 95 % interval covers it ~95 %.
    rng = np.random.default_rng(20180911)
    mu = {"T": (200, 170), "Ct": (300, 300), "D": (150, 150), "Cd": (120, 120)}
    n = 2000
    draws = {k: (rng.poisson(m[0], n), rng.poisson(m[1], n)) for k, m in mu.items()}
    covered = 0
    for i in range(n):
        c = {k: (v[0][i], v[1][i]) for k, v in draws.items()}
        r = wdd(c["T"], c["Ct"], c["D"], c["Cd"])
        covered += r.ci_low <= -30 <= r.ci_high
    assert 0.93 <= covered / n <= 0.97


@pytest.mark.reference
def test_reference_csv_examples(reference_dir):
    path = reference_dir / "wheeler_ratcliffe_2018_wdd" / "example_counts.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    data = pd.read_csv(path)

    def example(name):
        rows = data[data["example"] == name].set_index("role")
        counts = {role: (row["pre"], row["post"]) for role, row in rows.iterrows()}
        first = rows.iloc[0]
        time_weights = (first["time_weight_pre"], first["time_weight_post"])
        area = rows["area_weight"].to_dict()
        return counts, time_weights, area

    counts, tw, area = example("paper")
    assert {k: tuple(int(x) for x in v) for k, v in counts.items()} == PAPER
    r = wdd(
        counts["T"],
        counts["Ct"],
        counts["D"],
        counts["Cd"],
        time_weights=tw,
        area_weights=area,
        alpha=0.05,
    )
    assert r.estimate == -118
    assert r.std_error == pytest.approx(math.sqrt(1568))
    assert round(r.z, 2) == -2.98
    assert (round(r.ci_low), round(r.ci_high)) == (-196, -40)

    counts, tw, area = example("timeweights_blog")
    assert {k: tuple(int(x) for x in v) for k, v in counts.items()} == BLOG
    assert tw == BLOG_TIME_WEIGHTS
    r = wdd(counts["T"], counts["Ct"], time_weights=tw, area_weights=area, alpha=0.05)
    assert r.estimate == pytest.approx(-20)
    assert r.variance == pytest.approx(115)

    # The README: the same T / D / Ct counts feed the WDQ (target T, buffer D, control Ct).
    counts, _, _ = example("paper")
    q = wdq(counts["T"], counts["D"], counts["Ct"])
    assert q.wdq == pytest.approx(float(_hand_wdq(PAPER["T"], PAPER["D"], PAPER["Ct"])))


# --------------------------------------------------------------------------- WDQ


def _hand_wdq(a, b, c):
    """Bowers & Johnson's WDQ in exact rational arithmetic."""
    (ab, aa), (bb, ba), (cb, ca) = a, b, c
    success = Fraction(aa, ca) - Fraction(ab, cb)
    buffer = Fraction(ba, ca) - Fraction(bb, cb)
    return buffer / success


def test_wdq_paper_counts_by_hand():
    # Target T 207 -> 110, buffer D 178 -> 157, control Ct 308 -> 318 (common denominator
    # 48972 = lcm(318, 308)):
    #   success = 110/318 - 207/308 = (16940 - 32913)/48972 = -15973/48972  (-0.32617)
    #   buffer  = 157/318 - 178/308 = (24178 - 28302)/48972 =  -4124/48972  (-0.08421)
    #   WDQ     = 4124/15973 (0.25819): diffusion, smaller than the direct effect
    #   TNE     = (207 + 178) * 318/308 - (110 + 157) = 397.5 - 267 = 130.5
    q = wdq(PAPER["T"], PAPER["D"], PAPER["Ct"])
    assert q.success_measure == pytest.approx(-15973 / 48972, rel=1e-12)
    assert q.buffer_displacement_measure == pytest.approx(-4124 / 48972, rel=1e-12)
    assert q.wdq == pytest.approx(4124 / 15973, rel=1e-12)
    assert _hand_wdq(PAPER["T"], PAPER["D"], PAPER["Ct"]) == Fraction(4124, 15973)
    assert q.band == "diffusion"
    assert q.total_net_effect == pytest.approx(130.5, rel=1e-12)
    assert q.target_net_effect == pytest.approx(207 * 318 / 308 - 110)


@pytest.mark.parametrize(
    ("buffer", "expected_wdq", "band", "tne"),
    [
        # target 100 -> 50 and control 100 -> 100, so success measure = -0.5
        ((100, 20), 1.6, "diffusion_exceeds", 130),
        ((100, 80), 0.4, "diffusion", 70),
        ((100, 100), 0.0, "none", 50),
        ((100, 120), -0.4, "displacement", 30),
        ((100, 150), -1.0, "displacement_exceeds", 0),
        ((100, 160), -1.2, "displacement_exceeds", -10),
    ],
)
def test_wdq_bands_hand_computed(buffer, expected_wdq, band, tne):
    q = wdq((100, 50), buffer, (100, 100))
    assert q.success_measure == pytest.approx(-0.5)
    assert q.wdq == pytest.approx(expected_wdq)
    assert q.band == band
    assert q.total_net_effect == pytest.approx(tne)
    assert q.defined


def test_wdq_undefined_when_target_did_not_improve():
    q = wdq((100, 110), (100, 150), (100, 100))
    assert q.success_measure > 0
    assert math.isnan(q.wdq)
    assert q.band == "undefined" and not q.defined
    assert "did not improve" in q.interpretation
    assert "undefined" in q.summary()
    # Equal relative change in target and control: success measure 0, still undefined.
    assert wdq((50, 100), (10, 10), (100, 200)).band == "undefined"


def test_wdq_total_net_effect_sign_matches_wdq_minus_one():
    # For an improving target, TNE > 0 exactly when WDQ > -1.
    rng = np.random.default_rng(2003)
    checked = 0
    for _ in range(500):
        a, b, c = (tuple(int(x) for x in rng.integers(1, 300, 2)) for _ in range(3))
        q = wdq(a, b, c)
        if not q.defined or math.isclose(q.wdq, -1):
            continue
        checked += 1
        assert (q.total_net_effect > 0) == (q.wdq > -1)
    assert checked > 100


def test_wdq_does_not_depend_on_period_length():
    # Doubling every after-count (a twice-as-long after period) changes nothing.
    q1 = wdq((120, 60), (80, 70), (200, 190))
    q2 = wdq((120, 120), (80, 140), (200, 380))
    assert q2.wdq == pytest.approx(q1.wdq)
    assert q2.total_net_effect == pytest.approx(2 * q1.total_net_effect)


def test_wdq_zero_control_raises():
    with pytest.raises(ValueError, match="control must have crimes"):
        wdq((10, 5), (10, 10), (0, 10))


# --------------------------------------------------------------------------- conventions


@pytest.mark.parametrize("make", [_paper, lambda: wdq(PAPER["T"], PAPER["D"], PAPER["Ct"])])
def test_results_follow_conventions(make):
    r = make()
    assert isinstance(r, WDDResult | WDQResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.alpha = 0.1  # type: ignore[misc]
    frame = r.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) >= 3
    assert "estimate" in frame.columns
    text = r.summary()
    assert isinstance(text, str) and "\n" in text
    assert "<table" in r._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"treated": (10, -1), "control": (10, 10)}, "finite number >= 0"),
        ({"treated": (10,), "control": (10, 10)}, r"\(pre, post\) pair"),
        ({"treated": (10, "x"), "control": (10, 10)}, "must be a number"),
        ({"treated": (10, 5), "control": (10, 10), "displacement": (5, 5)}, "both"),
        ({"treated": (10, 5), "control": (10, 10), "time_weights": (0, 1)}, "> 0"),
        ({"treated": (10, 5), "control": (10, 10), "time_weights": (1, 1, 1)}, "pair"),
        ({"treated": (10, 5), "control": (10, 10), "area_weights": {"X": 1}}, "unknown roles"),
        (
            {"treated": (10, 5), "control": (10, 10), "area_weights": {"D": 2}},
            "without a displacement",
        ),
        ({"treated": (10, 5), "control": (10, 10), "alpha": 1.5}, "alpha"),
    ],
)
def test_wdd_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        wdd(**kwargs)


def test_wdd_harm_bad_arguments():
    with pytest.raises(ValueError, match="same length"):
        wdd_harm([1.0, 2.0], [1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="std_errors are required"):
        wdd_harm([1.0, 2.0])
    with pytest.raises(ValueError, match="at least one"):
        wdd_harm([], [])
    with pytest.raises(ValueError, match=">= 0"):
        wdd_harm([1.0], [-1.0])


def test_shared_control_variance_enters_four_times():
    """Regression: with the buffer compared with the target's own control, the control's
    change is subtracted twice but its variance entered only twice, not four times."""
    t, c, d = (207, 110), (308, 318), (178, 157)
    shared = wdd(t, c, d, c, shared_control=c)
    assert shared.estimate == wdd(t, c, d, c).estimate
    assert shared.variance == pytest.approx(sum(t) + sum(d) + 4 * sum(c))
    weighted = wdd(t, c, d, c, shared_control=c, time_weights=(2, 1), dispersion={"Ct": 2.0})
    # Ct's variance at dispersion 2, Cd's at 1, and twice the covariance at Ct's dispersion.
    by_hand = t[0] / 4 + t[1] + d[0] / 4 + d[1] + (2 + 1 + 2 * 2) * (c[0] / 4 + c[1])
    assert weighted.variance == pytest.approx(by_hand)


def test_dispersion_scales_each_area_and_t_reference():
    base = wdd((20, 12), (30, 33), (15, 16), (12, 11))
    scaled = wdd((20, 12), (30, 33), (15, 16), (12, 11), dispersion=2.0, df=10)
    assert scaled.variance == pytest.approx(2 * base.variance)
    assert scaled.p_value == pytest.approx(2 * stats.t.sf(abs(scaled.z), 10))
    with pytest.raises(ValueError, match="at least 1"):
        wdd((20, 12), (30, 33), dispersion=0.5)
    with pytest.raises(ValueError, match="shared_control needs"):
        wdd((20, 12), (30, 33), shared_control=(30, 33))


def _wdd_null_rejections(overdispersion: float, replicates: int = 2000) -> tuple[float, float]:
    """Monthly counts of target 5, control 8, buffer 4 a month (84 months, 45 before), the
    buffer compared with the target's control: rejection rates of the design's WDD and of
    the published variance (independent controls, Poisson)."""
    from dataclasses import replace

    from pipeline.designs.buffer import displacement_difference
    from pipeline.validation.simulation import simulate_design_data

    rng = np.random.default_rng(2018)
    shell = simulate_design_data(rng)
    index = shell.target.index

    def draw(mean):
        rate = np.full(len(index), float(mean))
        if overdispersion:
            rate = rate * rng.gamma(1 / overdispersion, overdispersion, len(index))
        return pd.DataFrame({"value": rng.poisson(rate).astype(float), "exposure": 1.0}, index)

    design, published = 0, 0
    for _ in range(replicates):
        data = replace(
            shell, target=draw(5), controls={"c": draw(8)}, buffer=draw(4), buffer_controls={}
        )
        test = displacement_difference(data)
        design += test.p_value < 0.05
        counts = test.counts
        plain = wdd(
            counts["T"], counts["Ct"], counts["D"], counts["Cd"], time_weights=test.time_weights
        )
        published += plain.p_value < 0.05
    return design / replicates, published / replicates


@pytest.mark.slow
@pytest.mark.parametrize("overdispersion", [0.0, 0.3, 1.0], ids=["poisson", "od0.3", "od1"])
def test_wdd_with_shared_control_holds_its_level(overdispersion):
    design, published = _wdd_null_rejections(overdispersion)
    print(f"WDD false positives at overdispersion {overdispersion}: {design:.3f} ({published:.3f})")
    assert 0.04 <= design <= 0.06
    assert published > 0.08  # the bug this fixes
