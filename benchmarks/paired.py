"""The paired ratio both the harness (run.py) and the report (report.py) use."""

from __future__ import annotations

import statistics


def paired_ratio(a: dict, b: dict) -> float:
    """Median over rounds of a's sample / b's sample from the same round.

    The two samples of a round were taken seconds apart, so a slow minute on
    the shared machine cancels out of their ratio.
    """
    return statistics.median(x / y for x, y in zip(a["samples"], b["samples"]))
