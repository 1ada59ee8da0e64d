"""Shared fixtures: the book built once per test session; a small simulated data set for the
input checks of tests/nests/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[str]:
    """Every document in _toc.yml, root first, as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """Build the HTML book with warnings as errors into a temporary directory."""
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb if jb.exists() else shutil.which("jupyter-book")), "build", str(ROOT),
               "--builder", "html", "--path-output", str(out), "-W", "-n", "--keep-going"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    return out / "_build" / "html", result


@pytest.fixture(scope="module")
def small():
    """Twelve products in four markets (the slides' design): the data of the input checks in
    tests/nests/test_panel.py and tests/nests/test_gfe.py."""
    from course_lib.nests import simulate_nested_logit

    return simulate_nested_logit(J=12, M=4, seed=0).data
