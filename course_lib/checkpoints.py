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
    # -- chapters 7-11 --
    # -- chapters 12-15 --
    # -- chapters 16-17 --
    # -- chapters 18-21 --
}

#: ``{label: reason}``: the exercises without a number to check, and why.
NOT_CHECKED: dict[str, str] = {
    "ex-ch2-diversion": "the diversion ratios are derived; the check is an identity",
    "ex-ch3-jensen": "the bias approximation is derived; the simulated biases depend on the draws",
    # -- chapters 5-6 --
    # -- chapters 7-11 --
    # -- chapters 12-15 --
    # -- chapters 16-17 --
    # -- chapters 18-21 --
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
