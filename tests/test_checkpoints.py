"""Checked exercises (issue 14): course_lib.checkpoints and its calls in chapters 1-4."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from course_lib import checkpoints

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
CHECKED = sorted(CHAPTERS.glob("0[1-4]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _exercise_labels():
    labels = set()
    for path in CHAPTERS.glob("*.ipynb"):
        for cell in _cells(path):
            if cell["cell_type"] == "markdown":
                labels |= set(re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", "".join(cell["source"])))
    return labels


def _expected(label):
    value, rtol, atol = checkpoints.ANSWERS[label]
    return np.atleast_1d(np.asarray(value, dtype=float)), rtol, atol


def test_every_label_is_an_exercise():
    unknown = set(checkpoints.ANSWERS) - _exercise_labels()
    assert not unknown, f"ANSWERS has labels that no chapter's exercise uses: {sorted(unknown)}"


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
    for x in expected:
        for digits in {f"{x:.6f}".rstrip("0"), f"{abs(x):.4f}", f"{abs(x):.3g}"}:
            assert digits not in line, f"the line {line!r} shows the expected value {x}"


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
