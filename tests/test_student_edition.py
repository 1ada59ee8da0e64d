"""`make student`: every chapter without the solutions of its exercises, and nothing else missing."""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location("student_edition", ROOT / "tools" / "student_edition.py")
student_edition = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student_edition)


def _solution_code_cells(nb: dict) -> list[str]:
    """The code cells of ``nb`` that lie inside a solution: after more starts than ends."""
    depth, inside = 0, []
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            depth += text.count("{solution-start}") - text.count("{solution-end}")
        elif depth > 0:
            inside.append(text)
    return inside


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_chapter_has_no_solution(path):
    original = json.loads(path.read_text())
    student = student_edition.student_notebook(original)
    text = json.dumps(student)
    assert "solution-start" not in text and "solution-end" not in text
    exercises = re.findall(r":label: (ex-[\w-]+)", json.dumps(original))
    assert exercises, "every chapter has exercises"
    for label in exercises:  # the exercises stay
        assert f":label: {label}" in text
    code = ["".join(c["source"]) for c in student["cells"] if c["cell_type"] == "code"]
    placeholders = [c for c in student["cells"] if c["cell_type"] == "code"
                    and "".join(c["source"]) == student_edition.PLACEHOLDER]
    assert len(placeholders) == len(exercises)
    assert all(not c["outputs"] for c in placeholders)
    hidden = _solution_code_cells(original)
    assert hidden and not set(hidden) & set(code)
    # Every other code cell is kept, with its outputs.
    kept = [c for c in original["cells"] if c["cell_type"] == "code" and "".join(c["source"]) not in hidden]
    assert all(c in student["cells"] for c in kept)
    nbformat.validate(nbformat.from_dict(student))  # a notebook Jupyter opens


def test_a_solution_text_is_gone_and_the_exercise_text_stays(tmp_path):
    student_edition.main(str(tmp_path))
    chapter = json.dumps(json.loads((tmp_path / "chapters" / "01_logit_shares.ipynb").read_text()))
    assert "The scale of the Gumbel" in chapter  # the exercise
    assert "Dividing every utility by" not in chapter  # its solution
    assert len(list((tmp_path / "chapters").glob("*.ipynb"))) == len(CHAPTERS)
