"""Progress bars for long steps: one tqdm bar on a terminal, nothing when output goes to a file or pipe
(tqdm's `disable=None`), so logs do not fill with one line per update."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from tqdm import tqdm


@contextlib.contextmanager
def progress_bar(total: int, desc: str) -> Iterator[Callable[[int, dict], None]]:
    """Yield update(step, values): advances the bar by one and shows values["loss"] when present."""
    with tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True, disable=None) as bar:
        def update(step: int, values: dict) -> None:
            if "loss" in values:
                bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
            bar.update(1)

        yield update
