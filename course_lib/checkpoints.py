"""Checked exercises: compare a student's numeric answer with the solution's, without showing it.

``check(label, answer)`` looks the exercise's expected value and tolerance up in
:data:`ANSWERS` and prints one line, ``right`` or ``not yet`` with the size of the gap; it
never prints the expected value. The values are the stable printed digits of each solution's
own output (six decimals), and the tolerances (about 1e-3 relative) exceed any rounding by far.

Every exercise of the book is either here or in :data:`NOT_CHECKED`, with the reason it has no
number to check (a derivation, checked in the solution only by an agreement to rounding error,
or a simulation whose digits depend on the random draws).

Examples
--------
>>> from course_lib import checkpoints
>>> result = checkpoints.check("ex-ch2-aggregate", -0.2208)
ex-ch2-aggregate: right (within the tolerance 1e-3)
>>> result.ok
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: ``{label: (value or tuple of values, rtol, atol)}``: what each checked exercise expects.
ANSWERS: dict[str, tuple[float | tuple[float, ...], float, float]] = {
    # chapter 1: logit shares with delta_0 = 0.7; shares (outside first) at mu = 2; change in surplus
    "ex-ch1-outside": ((0.027772, 0.217981, 0.151084, 0.057348, 0.042040, 0.182481, 0.168449), 1e-3, 0.0),
    "ex-ch1-scale": ((0.106790, 0.064596, 0.180974, 0.150666, 0.092825, 0.079476, 0.165583, 0.159090),
                     1e-3, 0.0),
    "ex-ch1-surplus": (-0.089795, 1e-3, 0.0),
    # chapter 2: own engine-size elasticities of market 17; aggregate elasticity of the inside goods
    "ex-ch2-characteristic": ((0.871952, 0.707324, 0.643968, 1.207041, 1.383007, 1.117614, 0.862472),
                              1e-3, 0.0),
    "ex-ch2-aggregate": (-0.220828, 1e-3, 0.0),
    # chapter 3: expected fraction of zero product-markets; min and max change of delta across markets
    "ex-ch3-motorcycle-zeros": (0.017705, 1e-3, 0.0),
    "ex-ch3-market-size": ((-2.933617, -1.215794), 1e-3, 0.0),
    # chapter 4: robust t on v_hat (true delta); corrected standard errors; alpha by instrument subset
    "ex-ch4-hausman-test": (10.958298, 1e-3, 0.0),
    "ex-ch4-by-hand": ((0.126279, 0.104728, 0.056818, 0.052657, 0.057951, 0.058984), 1e-3, 0.0),
    "ex-ch4-subsets": ((-2.873347, -3.016870, -2.962574), 1e-3, 0.0),
    # -- chapters 5-6 --
    # chapter 5: post-merger prices; the merged firm's common markup; price changes after the cost shock
    "ex-ch5-merger": ((1.939326, 1.339326, 1.039326, 1.739326, 1.039326), 1e-3, 0.0),
    "ex-ch5-monopoly": (0.839326, 1e-3, 0.0),
    "ex-ch5-passthrough": ((0.090854, -0.009146, -0.009146, 0.001402, 0.001402), 1e-3, 0.0),
    # chapter 6: logit prices with the true xi and costs; markups after the 2-3 merger; damping bound
    "ex-ch6-truth": ((0.967107, 0.875162, 0.932382, 1.009034, 0.432164, 0.971175, 0.896755),
                     1e-3, 0.0),
    "ex-ch6-merger": ((0.771475, 0.771475, 0.771475, 0.771475, 0.541034, 0.541034, 0.541034),
                      1e-3, 0.0),
    "ex-ch6-damping": (0.711637, 1e-3, 0.0),
    # -- chapters 7-11 --
    # chapter 7: own-price RC elasticities of market 17; outside share at lambda = 0, 0.5, ..., 3;
    # Gauss-Hermite nodes per dimension for an error below 1e-6
    "ex-ch7-elasticities": ((-2.739820, -1.994716, -2.291160, -2.736194, -1.237865, -2.239560,
                             -2.194002), 1e-3, 0.0),
    "ex-ch7-outside": ((0.082228, 0.092265, 0.120091, 0.157145, 0.194518, 0.227902, 0.256262),
                       1e-3, 0.0),
    "ex-ch7-quadrature": (7.0, 1e-3, 0.0),
    # chapter 8: median ratio of predicted to actual plain-iteration counts, with beta_t and 1 - s0
    "ex-ch8-predict": ((1.051241, 0.866958), 1e-3, 0.0),
    # chapter 9: q((Z'Z/N)^-1) / q((Z'Z)^-1) at sigma = (0.5, 1), (1, 2); ranks of Z and Z'Z in
    # market 1; beta minimising q at sigma = (0.5, 1)
    "ex-ch9-scale": ((651.0, 651.0), 1e-3, 0.0),
    "ex-ch9-market1": ((7.0, 7.0), 1e-3, 0.0),
    "ex-ch9-concentrate": ((1.112759, -3.162338, 1.068022, 2.095745, -1.012230, 0.947940), 1e-3, 0.0),
    # chapter 10: largest |RC - logit| share Jacobian gap in market 17 for c = 0.25, 0.5, 1, 2;
    # Hessian of q at the truth, row by row
    "ex-ch10-sdelta-gap": ((0.000497, 0.001864, 0.006093, 0.015934), 1e-3, 0.0),
    "ex-ch10-hessian": ((4.319671, -2.006921, -2.006921, 2.598619), 1e-3, 0.0),
    # chapter 11: two-step estimates with the first 50 draws (sigma, then beta); sigma_p, sigma_E
    # with the EngineSize and with the fitted-price differentiation instruments; distance of
    # s2 W2 from W1 and s2
    "ex-ch11-draws": ((0.168409, 1.088411, 1.008348, -3.084131, 1.067893, 2.095645, -1.006392,
                       0.947649), 1e-3, 0.0),
    "ex-ch11-diff-engine": ((0.015101, 0.692184, 0.691428, 0.882473), 1e-3, 1e-4),
    "ex-ch11-one-vs-two": ((0.140720, 0.331946), 1e-3, 0.0),
    # -- chapters 12-15 --
    # chapter 12: own-price elasticities of market 17 (two-step estimates); sigma with optimal IVs
    "ex-ch12-elasticities": ((-2.836664, -2.047510, -2.366793, -2.836078, -1.231282, -2.328989,
                              -2.257152), 1e-3, 0.0),
    "ex-ch12-optimal": ((0.115848, 0.827233), 1e-3, 0.0),
    # chapter 13: % price change of product 13 (true RC, estimated RC, logit); long-run diversion
    # to the outside good; medians across markets of the largest column ratio (estimated, true)
    "ex-ch13-merger": ((56.656264, 53.735462, 48.368661), 1e-3, 0.0),
    "ex-ch13-long-run": ((0.124573, 0.152643, 0.157615, 0.100281, 0.089102, 0.107761, 0.131046),
                         1e-3, 0.0),
    "ex-ch13-all-markets": ((1.387481, 1.461435), 1e-3, 0.0),
    # chapter 14: diversion from product 1 to products 2-7; nest elasticities; merged-nest estimates
    "ex-ch14-diversion": ((0.288032, 0.340270, 0.070168, 0.076265, 0.062726, 0.047513), 1e-3, 0.0),
    "ex-ch14-nest-share": ((-1.133607, -1.419519, -1.303469), 1e-3, 0.0),
    "ex-ch14-merged": ((1.038720, -1.237300, 0.280657, 0.605173), 1e-3, 0.0),
    # chapter 15: misclassification probabilities at M = 4; markets needed (proposition, slides)
    # and the true rate at the slides' number
    "ex-ch15-separation": ((0.401294, 0.308538, 0.158655, 0.066807, 0.022750, 0.001350), 1e-3, 0.0),
    "ex-ch15-how-many-markets": ((87.0, 22.0, 0.120477), 1e-3, 0.0),
    # -- chapters 16-19 --
    # chapter 16: matched shares by n_starts; chapter 17: plims of the price slopes (rho 0.5,
    # 0.9), two-step (beta_x, beta_p, sigma_0..2) without nest 2 in half the markets, matched by M
    "ex-ch16-more-starts": ((0.536667, 0.930000, 0.930000, 0.930000, 0.946667, 0.940000, 0.940000),
                            1e-3, 0.0),
    "ex-ch17-price-endogenous": ((-3.750000, -2.500000, -1.250000, -2.750000, -1.833333, -0.916667),
                                 1e-3, 0.0),
    "ex-ch17-nest-absent": ((1.044687, -1.024022, 0.197738, 0.306714, 0.590840), 1e-3, 0.0),
    "ex-ch17-markets": ((0.924000, 0.948667, 0.986667), 1e-3, 0.0),
    # chapter 19: Shapiro-Wilk p-values of beta_p in the stored exogenous cells, J then M
    "ex-ch19-normality": ((0.447473, 0.523671, 0.364281, 0.804456, 0.843206, 0.244335, 0.000253682,
                           0.165510, 0.117199), 1e-3, 0.0),
    # -- chapters 20-25 --
    # chapter 20: paired rule (fold correlation, choices); alpha and beta_x for K = 2, 3, 4
    "ex-ch20-paired": ((0.983175, 3.0, 2.0), 1e-3, 0.0),
    "ex-ch20-wrong-k": ((-1.267259, -0.979365, -0.837390, 1.011464, 0.957336, 0.822181), 1e-3, 0.0),
    # chapters 21-22: Frechet profile depth and matched share by spread; types with M = 2;
    # step-3 objectives
    "ex-ch21-frechet-spread": ((0.337287, 1.0, 0.009395, 0.884444), 1e-3, 0.0),
    "ex-ch21-types-markets": ((0.715833, 0.895833, 0.898333, 1.0), 1e-3, 0.0),
    "ex-ch22-upper-test": ((90.351023, 2.586358, 1.324892, 0.900280), 1e-3, 0.0),
    # chapter 23: sample means by duplicate rule; groups on the raw price; second-step variants
    "ex-ch23-duplicates": ((-0.105866, 2.349315, -0.172415, 2.353146), 1e-3, 0.0),
    "ex-ch23-raw-price": (0.487805, 1e-3, 0.0),
    "ex-ch23-no-year-effects": ((-0.073641, 4.0, -0.053641), 1e-3, 0.0),
    # chapter 24: OLS price coefficient and share of inelastic model-years
    "ex-ch24-ols": ((-0.0886393, 0.677492), 1e-3, 0.0),
    # chapter 25: 82-model alpha and merger (GM %, Chrysler %, CS); UPP rank correlations;
    # size classes 2, 4, 6
    "ex-ch25-82-models": ((-0.097992, 0.426524, 12.110431, -1.213737), 1e-3, 0.0),
    "ex-ch25-upp": ((0.999819, 0.998190, 0.888778, 0.988597), 1e-3, 0.0),
    "ex-ch25-size-classes": ((21.272849, 14.467605, 12.998336, -28.970091, -19.476223, -17.755643), 1e-3, 0.0),
}

#: ``{label: reason}``: the exercises without a number to check, and why.
NOT_CHECKED: dict[str, str] = {
    "ex-ch2-diversion": "the diversion ratios are derived; the check is an identity",
    "ex-ch3-jensen": "the bias approximation is derived; the simulated biases depend on the draws",
    # -- chapters 5-6 --
    "ex-ch6-alpha": "the answer is a plot of markups against alpha and its reading",
    # -- chapters 7-11 --
    "ex-ch8-warm": "the evaluation counts move by a few with the machine, so only rounded totals are shown",
    "ex-ch8-newton": "the iteration counts depend on the start and the stopping rule the student chooses",
    "ex-ch10-reverse": "the answer is the error JAX raises and an explanation of it",
    # -- chapters 12-15 --
    "ex-ch12-defaults": "the answer compares stopping rules; the gap depends on where L-BFGS-B stops",
    "ex-ch14-logit-limit": "the answer is a derivation; the check is an identity",
    "ex-ch15-equal-sigma": "the matched shares depend on the simulated draws",
    "ex-ch15-two-markets": "the simulated misclassification rates depend on the draws",
    # -- chapters 16-19 --
    "ex-ch18-weak-instrument": "a simulation whose digits depend on the student's random draws",
    "ex-ch18-close-sigma": "a simulation whose digits depend on the student's random draws",
    "ex-ch18-coverage": "a simulated coverage whose digits depend on the student's random draws",
    # -- chapters 20-25 --
    "ex-ch20-split-markets": "the answer compares counts of chosen K over simulated draws, computed by a procedure the student writes",
    "ex-ch22-one-step-repair": "the relabelled starts are random draws whose scheme the exercise leaves open",
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check`.

    Attributes
    ----------
    label : str
        The exercise's label.
    ok : bool
        Whether every number is within the tolerance.
    gap : float
        The largest relative gap (absolute where the expected value is zero).
    line : str
        The printed line.
    """

    label: str
    ok: bool
    gap: float
    line: str

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: :func:`check` has already printed the line."""


def _short(x: float) -> str:
    """Write a tolerance compactly: 1e-3 rather than 0.001 or 1e-03."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _chapter(label: str) -> str | None:
    match = re.match(r"ex-ch(\d+)-", label)
    return match.group(1) if match else None


def _expected(label: str):
    """Return ``(value, rtol, atol)`` for ``label``, or raise naming that chapter's labels."""
    if label in ANSWERS:
        return ANSWERS[label]
    chapter = _chapter(label)
    same = sorted(k for k in ANSWERS if chapter is not None and _chapter(k) == chapter)
    if same:
        known = f"the checked exercises of chapter {chapter} are {', '.join(same)}"
    else:
        chapters = sorted({int(_chapter(k)) for k in ANSWERS})
        known = f"checked exercises exist for chapters {', '.join(map(str, chapters))} only"
    raise LookupError(f"no checked exercise is labelled {label!r}: {known}.")


def check(label: str, answer) -> CheckResult:
    """Check a numeric answer to an exercise and print one line, never the expected value.

    Parameters
    ----------
    label : str
        The exercise's label, as in the book (``"ex-ch1-scale"``).
    answer : float or array_like
        The number, or the small array of numbers, that the exercise asks for (in the order the
        solution reports them).

    Returns
    -------
    CheckResult
        ``.ok`` says whether the answer is right; ``.gap`` is the largest relative gap
        (absolute where the expected value is zero).

    Raises
    ------
    LookupError
        If ``label`` is not a checked exercise; the message lists that chapter's labels.
    ValueError
        If ``answer`` is not numeric, has the wrong number of entries, or is not finite.
    """
    value, rtol, atol = _expected(label)
    expected = np.atleast_1d(np.asarray(value, dtype=float))
    try:
        got = np.atleast_1d(np.asarray(answer, dtype=float)).ravel()
    except (TypeError, ValueError) as err:
        raise ValueError(f"{label}: the answer must be a number or an array of numbers ({err}).") from None
    if got.size != expected.size:
        want = "one number" if expected.size == 1 else f"{expected.size} numbers"
        raise ValueError(f"{label}: the answer should be {want}, not {got.size}.")
    if not np.isfinite(got).all():
        raise ValueError(f"{label}: the answer contains NaN or infinite values.")
    diff = np.abs(got - expected)
    ok = bool(np.all(diff <= atol + rtol * np.abs(expected)))
    relative = bool(np.all(expected != 0))
    gap = float(np.max(diff / np.abs(expected))) if relative else float(np.max(diff))
    if ok:
        tolerance = _short(rtol) if rtol > 0 else f"{_short(atol)} (absolute)"
        line = f"{label}: right (within the tolerance {tolerance})"
    elif relative:
        percent = f"{100 * gap:.0f}%" if gap >= 0.01 else f"{100 * gap:.2g}%"
        line = f"{label}: not yet: off by {percent} (relative)"
    else:
        line = f"{label}: not yet: off by {gap:.2g} (absolute)"
    print(line)
    return CheckResult(label, ok, gap, line)
