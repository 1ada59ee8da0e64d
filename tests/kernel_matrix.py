"""Run the test suite (or part of it) under several BLAS and SIMD kernels.

A reader's laptop and the next CI machine round differently from the machine that executed the
chapters: OpenBLAS picks its kernels by CPU (``OPENBLAS_CORETYPE`` overrides the choice) and
NumPy dispatches its loops by SIMD extension (``NPY_DISABLE_CPU_FEATURES`` switches some off).
Nothing the book prints, stores or asserts may depend on which; this script checks that by running
``pytest`` once per kernel and printing one line per kernel with its pass and fail counts.

Usage (from the repository root, with the project's venv)::

    .venv/bin/python tests/kernel_matrix.py                      # every kernel this CPU runs
    .venv/bin/python tests/kernel_matrix.py --kernels unset Haswell -- tests/test_gmm.py
    .venv/bin/python tests/kernel_matrix.py --list

or ``make test-kernels`` (``KERNELS="unset Haswell"`` and ``TEST_ARGS="tests/test_gmm.py"``
select). Each run's log goes to ``_build/kernels/<kernel>.log`` (``--logs`` elsewhere). The exit status is non-zero when
any kernel has a failure. This is not part of ``make test``: CI keeps the machine's environment.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ["-m", "pytest", "--nbval", "--nbval-sanitize-with", "tests/sanitize.cfg", "-p", "no:cacheprovider"]

# name -> (environment changes (None removes the variable), CPU flags the kernel needs, what it is)
KERNELS = {
    "as-is": ({}, (), "the environment as it is"),
    "unset": ({"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}, (),
              "OpenBLAS chooses by CPU (SkylakeX on an AVX-512 x86-64 machine)"),
    "Haswell": ({"OPENBLAS_CORETYPE": "Haswell"}, ("avx2", "fma"), "OpenBLAS AVX2 kernels"),
    "SkylakeX": ({"OPENBLAS_CORETYPE": "SkylakeX"}, ("avx512f",), "OpenBLAS AVX-512 kernels"),
    "Sandybridge": ({"OPENBLAS_CORETYPE": "Sandybridge"}, ("avx",), "OpenBLAS AVX kernels, no FMA"),
    "numpy-AVX2": ({"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": None,
                    "OPENBLAS_L2_SIZE": None}, ("avx2",),
                   "NumPy's AVX-512 loops off (exp, log, sums take the AVX2 paths); OpenBLAS as unset"),
}
DEFAULT = ("as-is", "unset", "Haswell", "Sandybridge", "numpy-AVX2")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def environment(changes: dict) -> dict:
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def summary(log: str) -> str:
    """pytest's final line ('3 failed, 578 passed, 1 skipped in 210s'), without the timing."""
    lines = [l for l in log.splitlines() if re.search(r"\b(passed|failed|error)", l) and "==" in l]
    if not lines:
        return "no summary (see the log)"
    return re.sub(r"\s+in [\d.]+s.*$", "", lines[-1].strip("= "))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", nargs="+", default=None, help=f"default: {' '.join(DEFAULT)}")
    parser.add_argument("--list", action="store_true", help="list the kernels and exit")
    parser.add_argument("--logs", default="_build/kernels", help="directory for the logs (default: %(default)s)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    flags = cpu_flags()
    if args.list:
        for name, (changes, needs, what) in KERNELS.items():
            runnable = "" if set(needs) <= flags else "  (not on this CPU)"
            print(f"{name:<12} {what}{runnable}")
        return 0
    names = args.kernels or list(DEFAULT)
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        parser.error(f"unknown kernel(s) {unknown}; choose from {list(KERNELS)}")
    logs = ROOT / args.logs
    logs.mkdir(parents=True, exist_ok=True)
    failed = False
    results = []
    for name in names:
        changes, needs, _ = KERNELS[name]
        missing = sorted(set(needs) - flags)
        if missing:
            results.append((name, f"not run: this CPU lacks {', '.join(missing)}"))
            print(f"{name:<12} not run: this CPU lacks {', '.join(missing)}", flush=True)
            continue
        start = time.perf_counter()
        run = subprocess.run([sys.executable, *PYTEST, *args.pytest_args], cwd=ROOT, env=environment(changes),
                             capture_output=True, text=True)
        (logs / f"{name}.log").write_text(run.stdout + run.stderr)
        line = f"{summary(run.stdout)} ({time.perf_counter() - start:.0f} s)"
        failed |= run.returncode != 0
        results.append((name, line))
        print(f"{name:<12} {line}", flush=True)
    print(f"\nlogs in {logs.relative_to(ROOT)}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
