"""Write the student edition: every chapter without the solutions of its exercises.

    .venv/bin/python tools/student_edition.py [OUT]      (``make student``; OUT defaults to student/)

A solution is everything between a ``{solution-start}`` fence and its ``{solution-end}`` fence,
across cells: the prose of the solution goes, and every code cell inside it becomes one empty
cell, ``# Your solution``, without outputs. The exercises themselves (``{exercise}`` directives),
the chapter's text and its other code cells and outputs stay, so the notebook still reads as
the chapter. The book itself keeps the solutions, collapsed (``:class: dropdown``).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = re.compile(r"`{3,}\{solution-start\}[^\n]*\n(?::[^\n]*\n)*`{3,}[ \t]*\n?")
END = re.compile(r"`{3,}\{solution-end\}[^\n]*\n`{3,}[ \t]*\n?")
PLACEHOLDER = "# Your solution\n"


def strip_markdown(text: str, inside: bool) -> tuple[str, bool, bool]:
    """The parts of a markdown cell outside solutions, whether the cell ends inside a solution,
    and whether a solution starts in it."""
    kept, position, started = [], 0, False
    while True:
        fence = (END if inside else START).search(text, position)
        if fence is None:
            if not inside:
                kept.append(text[position:])
            return "".join(kept), inside, started
        if not inside:
            kept.append(text[position:fence.start()])
            started = True
        position, inside = fence.end(), not inside


def student_notebook(nb: dict) -> dict:
    """The notebook ``nb`` (nbformat 4 as a dict) without its solutions."""
    cells, inside, placeholder_given = [], False, False
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            text, inside, started = strip_markdown(source, inside)
            if started:
                placeholder_given = False
            if text.strip():
                cells.append({**cell, "source": text.splitlines(keepends=True)})
        elif inside:
            if not placeholder_given:  # one empty cell per solution, however many it had
                cells.append({**cell, "source": [PLACEHOLDER], "outputs": [], "execution_count": None})
                placeholder_given = True
        else:
            cells.append(cell)
    if inside:
        raise ValueError("A {solution-start} has no {solution-end}.")
    return {**nb, "cells": cells}


def main(out: str = "student") -> None:
    target = ROOT / out if not Path(out).is_absolute() else Path(out)
    (target / "chapters").mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        nb = student_notebook(json.loads(path.read_text()))
        (target / "chapters" / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    print(f"student edition: {target / 'chapters'}")


if __name__ == "__main__":
    main(*sys.argv[1:])
