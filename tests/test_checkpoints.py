"""Checked exercises (issue 14): course_lib.checkpoints and its calls in the chapters."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from course_lib import checkpoints

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
CHAPTER_PATHS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _labels_in(path):
    """The exercise labels of one chapter."""
    return {label for cell in _cells(path) if cell["cell_type"] == "markdown"
            for label in re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", "".join(cell["source"]))}


# The chapters with at least one checked exercise.
CHECKED = [p for p in CHAPTER_PATHS if _labels_in(p) & set(checkpoints.ANSWERS)]


def _exercise_labels():
    return set().union(*(_labels_in(p) for p in CHAPTER_PATHS))


def _expected(label):
    value, rtol, atol = checkpoints.ANSWERS[label]
    return np.atleast_1d(np.asarray(value, dtype=float)), rtol, atol


def test_every_label_is_an_exercise():
    unknown = (set(checkpoints.ANSWERS) | set(checkpoints.NOT_CHECKED)) - _exercise_labels()
    assert not unknown, f"labels that no chapter's exercise uses: {sorted(unknown)}"


def test_every_exercise_is_checked_or_says_why_not():
    """Each exercise has a checkpoint, or a reason in NOT_CHECKED; never both."""
    both = set(checkpoints.ANSWERS) & set(checkpoints.NOT_CHECKED)
    assert not both, f"in ANSWERS and NOT_CHECKED: {sorted(both)}"
    missing = _exercise_labels() - set(checkpoints.ANSWERS) - set(checkpoints.NOT_CHECKED)
    assert not missing, f"exercises with neither a checkpoint nor a reason: {sorted(missing)}"
    assert all(reason.strip() for reason in checkpoints.NOT_CHECKED.values())


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.stem)
def test_every_checkpoint_is_called_by_its_solution(path):
    """A checkpoint that no solution calls would be checked against nothing."""
    called = {label for cell in _cells(path) if cell["cell_type"] == "code"
              for label in re.findall(r'checkpoints\.check\("([^"]+)"', "".join(cell["source"]))}
    expected = _labels_in(path) & set(checkpoints.ANSWERS)
    assert called == expected, f"{path.stem}: checked {sorted(expected)}, called {sorted(called)}"


@pytest.mark.parametrize("label", sorted(checkpoints.ANSWERS))
def test_right_answer_passes(label, capsys):
    expected, _, _ = _expected(label)
    result = checkpoints.check(label, expected)
    assert result.ok and result.gap == 0
    assert capsys.readouterr().out.strip() == f"{label}: right (within the tolerance 1e-3)"


@pytest.mark.parametrize("label", sorted(checkpoints.ANSWERS))
def test_perturbed_answer_fails_without_revealing(label, capsys):
    expected, rtol, atol = _expected(label)
    perturbed = expected + 10 * (atol + rtol * np.abs(expected))
    result = checkpoints.check(label, perturbed if expected.size > 1 else float(perturbed[0]))
    line = capsys.readouterr().out
    assert not result.ok and line.startswith(f"{label}: not yet: off by")
    gap_only = line.replace(label, "")  # the label's own digits (ch10) are not the answer's
    for x in expected:
        for digits in {f"{x:.6f}".rstrip("0"), f"{abs(x):.4f}", f"{abs(x):.3g}"}:
            if sum(ch.isdigit() for ch in digits) >= 3:  # "1" or "0." would say nothing
                assert digits not in gap_only, f"the line {line!r} shows the expected value {x}"


def test_unknown_label_lists_the_chapter():
    with pytest.raises(LookupError, match="ex-ch2-aggregate, ex-ch2-characteristic"):
        checkpoints.check("ex-ch2-nonsense", 1.0)
    with pytest.raises(LookupError, match="chapters 1, 2, 3, 4"):
        checkpoints.check("ex-ch99-nonsense", 1.0)


def test_nan_and_wrong_shape_raise():
    with pytest.raises(ValueError, match="NaN"):
        checkpoints.check("ex-ch2-aggregate", np.nan)
    with pytest.raises(ValueError, match="7 numbers, not 3"):
        checkpoints.check("ex-ch1-outside", [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="number"):
        checkpoints.check("ex-ch2-aggregate", "minus a fifth")


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.stem)
def test_chapter_checks_pass_in_committed_outputs(path):
    """Each solution's check call printed ': right' when the chapter was executed (nbval
    re-runs the chapters and compares with these outputs)."""
    calls = 0
    for cell in _cells(path):
        source = "".join(cell["source"])
        for label in re.findall(r'checkpoints\.check\("([^"]+)"', source):
            if cell["cell_type"] != "code":
                continue
            calls += 1
            text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
            assert f"{label}: right" in text, f"{path.stem}: the check of {label} did not print ': right'"
    assert calls > 0, f"{path.stem} calls checkpoints.check nowhere"
