"""The kernel-matrix check inside the suite: the same results under every BLAS/SIMD kernel.

tests/_kernel_probe.py computes what the book prints about its most rounding-sensitive parts (the
two-step GMM search and estimates, the pricing solvers' counts, the contraction in a market with a
tiny outside share, Monte Carlo replications of the data-driven nests, the data's regeneration)
and prints it as JSON. This test runs it in a fresh
process under each kernel of tests/kernel_matrix.py that this CPU supports and requires identical
output. (The whole suite under each kernel is `make test-kernels`; it is too long for every run.)
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_matrix import KERNELS, cpu_flags, environment

HERE = Path(__file__).resolve().parent
PROBED = ("unset", "Haswell", "Sandybridge", "numpy-AVX2")


def test_results_are_the_same_under_every_kernel():
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"the kernels of tests/kernel_matrix.py are x86-64 ones; this machine is {platform.machine()}")
    pytest.importorskip("pyblp")
    flags = cpu_flags()
    kernels = [k for k in PROBED if set(KERNELS[k][1]) <= flags]
    assert len(kernels) >= 2, f"this x86-64 CPU runs fewer than two of {PROBED} (flags: AVX/AVX2 missing?)"
    outputs = {}
    for name in kernels:
        run = subprocess.run([sys.executable, str(HERE / "_kernel_probe.py")], env=environment(KERNELS[name][0]),
                             capture_output=True, text=True, timeout=600, cwd=HERE.parent)
        assert run.returncode == 0, f"{name}: {run.stderr[-2000:]}"
        outputs[name] = json.loads(run.stdout.strip().splitlines()[-1])
    reference = outputs[kernels[0]]
    assert reference["data regenerate"] is True
    for name in kernels[1:]:
        differing = {key: (reference[key], outputs[name][key]) for key in reference if reference[key] != outputs[name][key]}
        assert not differing, f"{name} differs from {kernels[0]}: {differing}"
