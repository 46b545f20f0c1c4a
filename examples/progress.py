"""A tqdm progress bar for the longer examples, or a silent stand-in without tqdm (an optional extra)."""

from __future__ import annotations


def progress(total: int, initial: int = 0, enabled: bool = True, desc: str | None = None, leave: bool = True):
    """A tqdm bar if tqdm is installed (and wanted), else an object with the same methods."""
    if enabled:
        try:
            from tqdm import tqdm
            return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, desc=desc,
                        leave=leave)
        except ImportError:
            pass
    return _NoBar()


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass

    @staticmethod
    def write(s):
        print(s)
