"""The README's contents table is the book's: one title per chapter, the chapter's own."""

import json
import re
from pathlib import Path

from conftest import toc_files

ROOT = Path(__file__).resolve().parents[1]


def _chapter_titles() -> dict:
    titles = {}
    for f in toc_files():
        if re.match(r"chapters/\d\d_", f):
            nb = json.loads((ROOT / f"{f}.ipynb").read_text())
            titles[int(Path(f).name[:2])] = "".join(nb["cells"][0]["source"]).splitlines()[0].lstrip("# ").strip()
    return titles


def test_readme_contents_list_every_chapter_with_its_title():
    rows = dict((int(n), title.strip()) for n, title in
                re.findall(r"^\|[^|\n]*\| (\d+)\. ([^|\n]+) \|", (ROOT / "README.md").read_text(), re.M))
    assert rows == _chapter_titles()
