"""What makes a chapter read well, checked on the notebooks (the browser test checks the pages).

- Code fits the page: no line of a code cell is longer than 88 characters (what the text column
  shows at 1400 px without scrolling sideways).
- Figures are numbered, captioned and described: every figure output comes from a cell with a
  myst-nb figure caption and name and an image alt text, and the chapter's text refers to it.
- Every chapter ends its text with a summary, just before its exercises.
- A chapter is a lecture: its text (markdown) stays under MAX_WORDS words, and the labels it
  defines (exercises, equations, results, figures) carry its own number, so that a label tells
  the reader where to look.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("[0-9][0-9]_*.ipynb"))
MAX_LINE = 88
# The longest chapter's text has 4,297 words (15, identification); the four that ran to
# 5,000-5,900 words (estimation, Monte Carlo, extensions, the automobile demand systems and
# merger) were each split in two.
MAX_WORDS = 4_500


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _markdown(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(path):
    long = [(i, line) for i, cell in enumerate(_cells(path)) if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if len(line) > MAX_LINE]
    assert not long, f"{len(long)} code lines over {MAX_LINE} characters, first in cell {long[0][0]}: {long[0][1]!r}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_figures_are_numbered_captioned_and_cited(path):
    text = _markdown(path)
    figures = 0
    for i, cell in enumerate(_cells(path)):
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if not images:
            continue
        figures += 1
        assert len(images) == 1, f"cell {i} draws {len(images)} figures: one per cell, each with its caption"
        meta = cell["metadata"].get("mystnb", {})
        figure, image = meta.get("figure", {}), meta.get("image", {})
        assert figure.get("caption", "").strip(), f"cell {i}: figure without a caption"
        name = figure.get("name", "")
        assert re.fullmatch(rf"fig-ch{path.stem[:2]}-[a-z0-9-]+", name), f"cell {i}: figure name {name!r}"
        assert len(image.get("alt", "")) > 20, f"cell {i} ({name}): figure without alt text"
        assert f"`{name}`" in text, f"the text of {path.stem} never refers to {name} ({{numref}})"
    names = [c["metadata"].get("mystnb", {}).get("figure", {}).get("name") for c in _cells(path)]
    names = [n for n in names if n]
    assert len(names) == len(set(names)) == figures, f"{path.stem}: figure names {names}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_a_summary_before_its_exercises(path):
    # headings of the text, not comment lines of fenced code in it
    prose = [re.sub(r"```.*?```", "", "".join(c["source"]), flags=re.S) for c in _cells(path)
             if c["cell_type"] == "markdown"]
    headings = [line for text in prose for line in text.splitlines() if re.match(r"##? ", line)]
    assert "## Summary" in headings, f"{path.stem} has no '## Summary' section"
    after = headings[headings.index("## Summary") + 1:]
    assert not after or after[0].startswith("## Exercises"), f"{path.stem}: the summary is followed by {after[0]!r}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_text_is_one_lecture(path):
    words = len(_markdown(path).split())
    assert words <= MAX_WORDS, f"{path.stem}: {words} words of text; split it where a lecture would"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_labels_carry_the_chapter_number(path):
    text = "\n".join("".join(c["source"]) for c in _cells(path))
    defined = re.findall(r":label: (\S+)", text) + re.findall(r"\$\$ \((\S+)\)", text)
    numbered = [label for label in defined if re.match(r"[a-z]+-ch\d+-", label)]
    assert numbered, f"{path.stem} defines no numbered label"
    wrong = [label for label in numbered
             if int(re.match(r"[a-z]+-ch(\d+)-", label).group(1)) != int(path.stem[:2])]
    assert not wrong, f"{path.stem} defines labels of another chapter: {wrong}"
