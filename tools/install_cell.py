"""Give every chapter its install cell: the first code cell, hidden in the book (tag ``remove-cell``).

Opened in Colab or in any fresh Python, a chapter needs ``course_lib`` (which carries its data and
pulls in pyBLP, linearmodels, jax...). The cell installs it from the book's repository when it is
missing, and does nothing where it is installed (the repository's own environment, the tests).
It also draws figures at twice the pixel density, the same on every page.

The repository URL comes from ``_config.yml`` (``repository.url``), the one place to change it.
Run ``.venv/bin/python tools/install_cell.py .`` (``make install-cells``) after changing it or adding
a chapter; ``--check`` only reports chapters whose cell is missing or out of date (the tests use it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

CELL_ID = "install-course-lib"
TAGS = ["remove-cell"]


def repository_url(root: Path) -> str:
    """``repository.url`` of the book's ``_config.yml``, without a trailing slash."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/")


def cell_source(url: str) -> str:
    """The install cell's code for the repository at ``url``."""
    return f'''\
# Run this cell first in Colab or in a fresh Python. It installs the course's library
# (with its data, pyBLP, linearmodels and jax) where it is missing, and does nothing
# where it is installed.
import importlib.util
import subprocess
import sys

REPOSITORY = "{url}"
if importlib.util.find_spec("course_lib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    f"course_lib @ git+{{REPOSITORY}}"], check=True)
# figures at twice the pixel density: sharp on any screen
%config InlineBackend.figure_formats = ["retina"]'''


def install_cell(url: str) -> dict:
    """The cell as nbformat 4.5 stores it: fixed id, hidden in the book, no outputs."""
    return {"cell_type": "code", "execution_count": None, "id": CELL_ID,
            "metadata": {"tags": list(TAGS)}, "outputs": [],
            "source": cell_source(url).splitlines(keepends=True)}


def chapter_paths(root: Path) -> list[Path]:
    """The numbered chapter notebooks."""
    return sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb"))


def is_current(nb: dict, url: str) -> bool:
    """Whether the notebook's first code cell is the install cell for ``url``."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return bool(code) and code[0].get("id") == CELL_ID and "".join(code[0]["source"]) == cell_source(url) \
        and code[0]["metadata"].get("tags") == TAGS


def refresh(path: Path, url: str) -> bool:
    """Put the current install cell after the chapter's title cell; True when the file changed."""
    nb = json.loads(path.read_text())
    if is_current(nb, url):
        return False
    old = next((c for c in nb["cells"] if c.get("id") == CELL_ID), None)
    cell = install_cell(url)
    if old is not None:  # keep its execution record, so that only the source changes
        cell["execution_count"] = old.get("execution_count")
        nb["cells"][nb["cells"].index(old)] = cell
    else:
        nb["cells"].insert(1, cell)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the book's root (with _config.yml and chapters/)")
    parser.add_argument("--check", action="store_true", help="report stale chapters, change nothing")
    args = parser.parse_args(argv)
    url = repository_url(args.root)
    stale = [p.name for p in chapter_paths(args.root) if not is_current(json.loads(p.read_text()), url)]
    if args.check:
        for name in stale:
            print(f"{name}: install cell missing or out of date (run make install-cells)")
        return 1 if stale else 0
    for path in chapter_paths(args.root):
        if refresh(path, url):
            print(f"{path.name}: install cell written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
