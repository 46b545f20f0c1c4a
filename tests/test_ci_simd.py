"""CI's second test pass reduces numpy's SIMD dispatch to its baseline
(scripts/numpy_baseline_simd.py): the list it computes must really do that."""

import os
import platform
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "numpy_baseline_simd.py"


def run(command, **env):
    clean = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    return subprocess.run([sys.executable, str(SCRIPT), command], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_the_computed_setting_leaves_only_the_baseline_kernels():
    features = run("features")
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        assert features.returncode == 3 and "not x86" in features.stderr
        return
    if features.returncode == 3:                       # an x86 CPU with nothing above the baseline
        assert "nothing above its baseline" in features.stderr
        return
    assert features.returncode == 0, features.stderr
    reduced = run("check", NPY_DISABLE_CPU_FEATURES=features.stdout.strip())
    assert reduced.returncode == 0 and "baseline kernels only" in reduced.stdout, reduced.stderr
    assert reduced.stderr == ""                        # numpy warned about no name it was given
    usual = run("check")                               # and the check does fail without it
    assert usual.returncode == 1 and "still dispatches" in usual.stderr
