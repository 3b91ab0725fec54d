"""The weighted displacement quotient (WDQ): displacement or diffusion, described.

The quotient of Bowers & Johnson (2003) compares a buffer's change with the
target's, both relative to a control area, and the total net effect of
Guerette (2009) adds them up. It is descriptive: no standard error. Each area is
given as a ``(pre, post)`` pair of counts. The test with a standard error is the
weighted displacement difference in :mod:`.displacement`.

References
----------
Bowers, K. J. & Johnson, S. D. (2003). Measuring the geographical displacement and
diffusion of benefit effects of crime prevention activity. *Journal of Quantitative
Criminology*, 19(3), 275-301. doi:10.1023/A:1024909009240
Guerette, R. T. (2009). *Analyzing crime displacement and diffusion*. Problem-Oriented
Guides for Police, Problem-Solving Tools Series No. 10, Appendices B and C.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ..format import summary_html
from .arguments import check_pair

__all__ = ["WDQResult", "wdq"]

# Bands as Bowers & Johnson (2003) describe them (tabulated in Guerette 2009, App. C).
_WDQ_BANDS = {
    "undefined": "not interpreted: the target area did not improve relative to the control",
    "diffusion_exceeds": "diffusion of benefits, larger than the direct effect in the target",
    "diffusion": "diffusion of benefits to the buffer",
    "none": "no displacement and no diffusion",
    "displacement": "displacement to the buffer, smaller than the direct effect (net benefit)",
    "displacement_exceeds": "displacement to the buffer as large as or larger than the "
    "direct effect (no net benefit)",
}


@dataclass(frozen=True)
class WDQResult:
    """Weighted displacement quotient and the measures it is built from.

    Sign conventions follow the sources, so read each field by its own rule:
    ``success_measure`` < 0 means the target improved relative to the control;
    ``buffer_displacement_measure`` > 0 suggests displacement, < 0 diffusion;
    ``wdq`` > 0 diffusion, < 0 displacement; ``total_net_effect`` > 0 is the number
    of crimes prevented in target and buffer together (Guerette 2009).

    Attributes
    ----------
    target, buffer, control : tuple of float
        ``(before, after)`` counts.
    success_measure : float
        ``A_after/C_after - A_before/C_before`` (denominator of the WDQ).
    buffer_displacement_measure : float
        ``B_after/C_after - B_before/C_before`` (numerator of the WDQ).
    wdq : float
        Their quotient; NaN when the target did not improve (``success_measure >= 0``).
    target_net_effect, buffer_net_effect : float
        Crimes prevented in each area relative to the control's trend,
        ``X_before * C_after / C_before - X_after``.
    total_net_effect : float
        Their sum.
    band : str
        Key of the interpretation band: ``undefined``, ``diffusion_exceeds``,
        ``diffusion``, ``none``, ``displacement`` or ``displacement_exceeds``.
    interpretation : str
        The band in words.
    """

    target: tuple[float, float]
    buffer: tuple[float, float]
    control: tuple[float, float]
    success_measure: float
    buffer_displacement_measure: float
    wdq: float
    target_net_effect: float
    buffer_net_effect: float
    total_net_effect: float
    band: str
    interpretation: str

    @property
    def defined(self) -> bool:
        """Whether the WDQ is interpretable (the target improved relative to the control)."""
        return self.band != "undefined"

    def to_frame(self) -> pd.DataFrame:
        """One row per measure: ``measure``, ``estimate``, ``reading``."""
        rows = [
            ("success_measure", self.success_measure, "< 0: target improved vs control"),
            (
                "buffer_displacement_measure",
                self.buffer_displacement_measure,
                "> 0: possible displacement; < 0: possible diffusion",
            ),
            ("wdq", self.wdq, self.interpretation),
            ("target_net_effect", self.target_net_effect, "crimes prevented in target"),
            ("buffer_net_effect", self.buffer_net_effect, "crimes prevented in buffer"),
            ("total_net_effect", self.total_net_effect, "crimes prevented, target + buffer"),
        ]
        return pd.DataFrame(rows, columns=["measure", "estimate", "reading"])

    def summary(self) -> str:
        """A few lines for a report."""
        wdq_text = "undefined" if not self.defined else f"{self.wdq:.3f}"
        reading = (
            "the target area did not improve relative to the control, so there is no "
            "effect to displace"
            if not self.defined
            else self.interpretation
        )
        return "\n".join(
            [
                "Weighted displacement quotient (Bowers & Johnson 2003)",
                f"  counts before -> after: target {self.target[0]:g} -> {self.target[1]:g}, "
                f"buffer {self.buffer[0]:g} -> {self.buffer[1]:g}, "
                f"control {self.control[0]:g} -> {self.control[1]:g}",
                f"  success measure {self.success_measure:.4f}, "
                f"buffer displacement measure {self.buffer_displacement_measure:.4f}",
                f"  WDQ {wdq_text}: {reading}",
                f"  total net effect {self.total_net_effect:.1f} crimes prevented "
                f"(target {self.target_net_effect:.1f}, buffer {self.buffer_net_effect:.1f})",
                "  The WDQ has no standard error: it cannot say whether a change is larger "
                "than chance (use the WDD test for that).",
            ]
        )

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.to_frame(), float_format="%.4g")


def _wdq_band(success: float, buffer: float, quotient: float) -> str:
    if success >= 0:
        return "undefined"
    if buffer == 0:
        return "none"
    if quotient > 1:
        return "diffusion_exceeds"
    if quotient > 0:
        return "diffusion"
    if quotient > -1:
        return "displacement"
    return "displacement_exceeds"


def wdq(target: Sequence[float], buffer: Sequence[float], control: Sequence[float]) -> WDQResult:
    """Weighted displacement quotient of Bowers & Johnson (2003).

    With A the target, B the buffer around it and C a control area, and counts
    before (b) and after (a) the intervention::

        success measure              = A_a/C_a - A_b/C_b
        buffer displacement measure  = B_a/C_a - B_b/C_b
        WDQ = buffer displacement measure / success measure

    Both measures express each area relative to the control in the same period, so
    the WDQ does not depend on the length of the periods. Bowers & Johnson
    interpret it only when the target improved (success measure < 0): displacement
    cannot be attributed to an intervention that did not reduce crime. In that
    case WDQ > 1 means the diffusion of benefits exceeded the direct effect,
    0 < WDQ <= 1 diffusion, WDQ = 0 neither, -1 < WDQ < 0 displacement smaller than
    the direct effect, and WDQ <= -1 displacement that cancels it.

    The total net effect (Guerette 2009, App. B) counts the crimes prevented, using
    the control's trend as counterfactual for both areas::

        TNE = [A_b * C_a/C_b - A_a] + [B_b * C_a/C_b - B_a]

    TNE > 0 exactly when WDQ > -1 (for an improving target).

    Parameters
    ----------
    target, buffer, control : (before, after) pair of counts
        The control must have crimes in both periods. For data laid out as in the
        WDD reference files, pass the treated area T, the displacement area D and
        the treated area's control Ct.

    Returns
    -------
    WDQResult

    Raises
    ------
    ValueError
        A count is negative or not a number, or the control has zero crimes in a period.

    Notes
    -----
    Caveats (Bowers & Johnson 2003; Wheeler & Ratcliffe 2018): the WDQ is a ratio of
    ratios with no sampling distribution, so a large |WDQ| can come from a tiny,
    chance improvement in the target (small denominator); it depends heavily on the
    choice of control area; and it says nothing about the direction or longevity of
    displacement.

    Examples
    --------
    >>> r = wdq(target=(100, 50), buffer=(100, 80), control=(100, 100))
    >>> round(r.wdq, 3), r.band, round(r.total_net_effect, 1)
    (0.4, 'diffusion', 70.0)
    """
    a_b, a_a = check_pair(target, "target")
    b_b, b_a = check_pair(buffer, "buffer")
    c_b, c_a = check_pair(control, "control")
    if c_b == 0 or c_a == 0:
        raise ValueError(
            f"control must have crimes in both periods (got before={c_b:g}, after={c_a:g}): "
            "the WDQ divides by them"
        )
    success = a_a / c_a - a_b / c_b
    displacement = b_a / c_a - b_b / c_b
    quotient = displacement / success if success < 0 else float("nan")
    band = _wdq_band(success, displacement, quotient)
    trend = c_a / c_b
    target_net = a_b * trend - a_a
    buffer_net = b_b * trend - b_a
    return WDQResult(
        target=(a_b, a_a),
        buffer=(b_b, b_a),
        control=(c_b, c_a),
        success_measure=success,
        buffer_displacement_measure=displacement,
        wdq=quotient,
        target_net_effect=target_net,
        buffer_net_effect=buffer_net,
        total_net_effect=target_net + buffer_net,
        band=band,
        interpretation=_WDQ_BANDS[band],
    )
