"""Progress of long steps: a tqdm bar when stderr is a terminal, else (output to a file or pipe) no bar
and one summary line on stderr when the step ends, so logs do not fill with one line per update.
`editgan --progress` forces the bars, `editgan --quiet` turns them off (`set_mode`)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Self

from tqdm import tqdm

MODES = ("auto", "on", "off")  # auto: bars on a terminal only
_mode = "auto"


def set_mode(mode: str) -> None:
    """Bars "on", "off", or "auto" (on when stderr is a terminal; the default)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"progress mode must be one of {MODES}, got {mode!r}")
    _mode = mode


def bars_on() -> bool:
    """Whether progress bars are drawn now."""
    if _mode == "auto":
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return _mode == "on"


class Progress:
    """One long step: `update(n, **values)` advances it (the values, e.g. loss, shown beside the bar);
    `close()` ends it: the bar goes, or, without a bar, one line "DESC: COUNT UNITs in T s, values" is
    printed on stderr. Used as a context manager, it closes silently when the step fails."""

    def __init__(self, total: int | None, desc: str, unit: str = "step", *, initial: int = 0, leave: bool = True):
        self.desc, self.unit, self.count, self.values = desc, unit, 0, {}
        self.start = time.perf_counter()
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave, dynamic_ncols=True,
                        file=sys.stderr) if bars_on() else None

    def update(self, n: int = 1, **values: float) -> None:
        self.count += n
        if values:
            self.values.update(values)
        if self.bar is not None:
            if values:
                self.bar.set_postfix({k: _number(v) for k, v in values.items()}, refresh=False)
            self.bar.update(n)

    def set_description(self, desc: str) -> None:
        self.desc = desc
        if self.bar is not None:
            self.bar.set_description(desc, refresh=False)

    def summary(self) -> str:
        values = "".join(f", {k} {_number(v)}" for k, v in self.values.items())
        return f"{self.desc}: {self.count} {self.unit}s in {time.perf_counter() - self.start:.1f} s{values}"

    def close(self, failed: bool = False) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.count and not failed:
            print(self.summary(), file=sys.stderr, flush=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)


def _number(value) -> str:
    return str(value) if isinstance(value, (int, str)) else f"{float(value):.4f}"


@contextlib.contextmanager
def progress_bar(total: int, desc: str, show: tuple[str, ...] = ("loss",)) -> Iterator[Callable[[int, dict], None]]:
    """Yield update(step, values): advances a `Progress` by one and shows the values named in `show`."""
    with Progress(total, desc, leave=False) as progress:
        def update(step: int, values: dict) -> None:
            progress.update(1, **{k: float(values[k]) for k in show if k in values})

        yield update
