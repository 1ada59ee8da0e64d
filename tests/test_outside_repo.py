"""A chapter runs outside the repository after the one install command, as a reader's would.

The reader's command is ``pip install "course_lib @ git+<repository>"`` (or the install cell that
every chapter starts with). Offline, the test does the same with a wheel built from this checkout:
a fresh virtual environment, whose only view of the pinned dependencies is a ``.pth`` line to this
environment's site-packages (not its editable ``course_lib``), installs the wheel with pip's
dependency check on and no index; then a chapter, copied alone into an empty directory, executes
in a kernel of that environment. The data must come from the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
# One chapter on the motorcycle data (pandas, linearmodels, the install cell's path), one on the
# stored results (data/results, tqdm).
CHAPTERS = ["04_endogeneity_instruments", "18_monte_carlo"]


@pytest.fixture(scope="module")
def reader_env(tmp_path_factory) -> Path:
    """A fresh environment with course_lib installed from a wheel of this checkout."""
    tmp = tmp_path_factory.mktemp("reader")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "course_lib", source / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    run = dict(capture_output=True, text=True, timeout=600)
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                            "--no-build-isolation", "--wheel-dir", str(tmp / "wheel"), str(source)], **run)
    assert wheel.returncode == 0, wheel.stderr
    env = tmp / "env"
    made = subprocess.run([sys.executable, "-m", "venv", str(env)], **run)
    assert made.returncode == 0, made.stderr
    python = env / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **run)
    (Path(site.stdout.strip()) / "pinned_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (whl,) = (tmp / "wheel").glob("course_lib-*.whl")
    # The one install command, offline: dependencies are checked (and found), not downloaded.
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", str(whl)], **run)
    assert install.returncode == 0, install.stderr
    return env


def test_the_wheel_carries_the_data(reader_env):
    python = reader_env / "bin" / "python"
    code = ("import course_lib, course_lib.data as d; print(course_lib.__file__); "
            "print(d.DATA_DIR); print(len(d.load_motorcycles())); print(sorted(p.name for p in d.RESULTS_DIR.iterdir())[:1])")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=reader_env, timeout=300)
    assert out.returncode == 0, out.stderr
    module, data_dir, rows, first = out.stdout.splitlines()
    assert module.startswith(str(reader_env)) and data_dir.startswith(str(reader_env))
    assert int(rows) > 0 and first != "[]"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_in_an_empty_directory(reader_env, tmp_path, chapter):
    """The chapter alone in a new directory, executed by a kernel of the reader's environment."""
    nb = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import course_lib\nprint(course_lib.__file__)"))
    path = tmp_path / f"{chapter}.ipynb"
    nbformat.write(nb, path)
    python = reader_env / "bin" / "python"
    # The kernel is the environment's own python3 (ipykernel through the .pth line); nothing from
    # this repository is on its path, and a progress bar or a warning must not fail the run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON"))}
    env["PATH"] = f"{reader_env / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    code = ("import nbformat, nbclient, sys; nb = nbformat.read(sys.argv[1], as_version=4); "
            "nbclient.NotebookClient(nb, timeout=1200, kernel_name='python3', "
            "resources={'metadata': {'path': sys.argv[2]}}).execute(); nbformat.write(nb, sys.argv[1])")
    out = subprocess.run([str(python), "-c", code, str(path), str(tmp_path)], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    executed = nbformat.read(path, as_version=4)
    last = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert last.strip().startswith(str(reader_env)), f"course_lib came from {last.strip()}"


def test_every_chapter_has_its_install_cell():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "install_cell.py"), str(ROOT), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_pages_name_the_configured_repository():
    """README, home page and install cells give the same install command (repository.url)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from install_cell import repository_url

    command = f"course_lib @ git+{repository_url(ROOT)}"
    for page in ("README.md", "intro.md"):
        assert command in (ROOT / page).read_text(), f"{page} does not give the install command {command!r}"
