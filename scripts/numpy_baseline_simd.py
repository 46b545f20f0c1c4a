"""numpy's SIMD dispatch, reduced to its baseline: the setting for CI's second test pass.

numpy compiles each hot loop for several instruction sets and picks, at import, the
best one this CPU has (its "dispatch" targets, e.g. X86_V3 = AVX2+FMA, X86_V4 and
AVX512_* on x86). Different kernels round differently in the last bits, so a test
that passes only with one set of kernels depends on the CPU. Setting
NPY_DISABLE_CPU_FEATURES to every dispatch target this CPU supports leaves only the
baseline kernels (X86_V2 = SSE4.2 on numpy 2.x), which every x86-64 machine runs.

The list is computed here from numpy's own tables, not written down: numpy refuses
to start when asked to disable a baseline feature, and warns about one the CPU lacks,
so a fixed list would break on some machine.

    python scripts/numpy_baseline_simd.py features   # print the value for NPY_DISABLE_CPU_FEATURES
    python scripts/numpy_baseline_simd.py check      # under that setting: assert numpy used it

`features` exits with status 3 and a note on stderr when there is nothing to reduce
(not an x86 machine, or a CPU with no dispatch target above the baseline).
"""

from __future__ import annotations

import os
import platform
import sys

SKIP = 3            # exit status of `features` when the second pass has nothing to test


def umath():
    """numpy's C core, which holds the dispatch tables (numpy 2.x: numpy._core, 1.x: numpy.core)."""
    try:
        from numpy._core import _multiarray_umath
    except ImportError:                                   # numpy < 2
        from numpy.core import _multiarray_umath
    return _multiarray_umath


def active_dispatch_targets() -> list[str]:
    """The dispatch targets numpy uses now: built for, supported by this CPU, not disabled."""
    m = umath()
    return [name for name in m.__cpu_dispatch__ if m.__cpu_features__.get(name)]


def features() -> int:
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64", "i386", "i686", "x86"):
        print(f"note: {machine} is not x86; the reduced-SIMD pass is for x86 and is skipped", file=sys.stderr)
        return SKIP
    if os.environ.get("NPY_DISABLE_CPU_FEATURES"):
        print("error: NPY_DISABLE_CPU_FEATURES is already set; unset it to compute the list", file=sys.stderr)
        return 1
    targets = active_dispatch_targets()
    if not targets:
        print(f"note: numpy dispatches nothing above its baseline {umath().__cpu_baseline__} on this CPU; "
              "the first pass already ran the baseline kernels", file=sys.stderr)
        return SKIP
    print(" ".join(targets))
    return 0


def check() -> int:
    import numpy as np
    m = umath()
    left, setting = active_dispatch_targets(), os.environ.get("NPY_DISABLE_CPU_FEATURES", "")
    if not setting or left:
        print(f"error: numpy still dispatches to {left or 'its usual targets'} "
              f"(NPY_DISABLE_CPU_FEATURES={setting!r})", file=sys.stderr)
        return 1
    print(f"numpy {np.__version__}: baseline kernels only ({' '.join(m.__cpu_baseline__)}); "
          f"disabled: {os.environ['NPY_DISABLE_CPU_FEATURES']}")
    return 0


if __name__ == "__main__":
    commands = {"features": features, "check": check}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python {sys.argv[0]} {{{','.join(commands)}}}")
    sys.exit(commands[sys.argv[1]]())
