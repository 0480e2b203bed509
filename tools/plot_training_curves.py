"""Plot a snapshot metric of GAN runs against images seen, from their `log.jsonl` files.

    python tools/plot_training_curves.py "lr 0.002=reports/toon128_training_log.jsonl" \
        "StyleGAN2 D=reports/toon128_plain_d_training_log.jsonl" --hline "floor=3.08" "target=6.2" \
        --out reports/toon128_fd_curve.png

Each curve is LABEL=PATH; lines without the metric (runs without --metric-samples) are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from editgan.files import atomic_path  # noqa: E402


def split_pair(text: str) -> tuple[str, str]:
    label, sep, value = text.partition("=")
    if not sep or not label or not value:
        raise ValueError(f"expected LABEL=VALUE, got {text!r}")
    return label, value


def read_curve(path: Path, metric: str) -> tuple[list[float], list[float]]:
    """(kimg, metric) of every log line that has the metric, in file order."""
    kimg, values = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{number} is not JSON") from None
        if isinstance(record, dict) and isinstance(record.get(metric), (int, float)) and "kimg" in record:
            kimg.append(float(record["kimg"]))
            values.append(float(record[metric]))
    return kimg, values


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("curves", nargs="+", metavar="LABEL=PATH")
    p.add_argument("--metric", default="fd_toon")
    p.add_argument("--hline", nargs="*", default=[], metavar="LABEL=VALUE", help="reference levels")
    p.add_argument("--out", required=True, help="PNG to write")
    args = p.parse_args(argv)
    try:
        curves = [(label, *read_curve(Path(path), args.metric)) for label, path in map(split_pair, args.curves)]
        levels = [(label, float(value)) for label, value in map(split_pair, args.hline)]
    except (OSError, ValueError) as err:
        print(f"plot_training_curves: {err}", file=sys.stderr)
        return 1
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for label, kimg, values in curves:
        ax.plot(kimg, values, marker=".", label=label)
    for label, value in levels:
        ax.axhline(value, linestyle="--", linewidth=1, color="grey")
        ax.annotate(label, (0, value), xytext=(2, 2), textcoords="offset points", fontsize=8, color="grey")
    ax.set_xlabel("thousand images seen")
    ax.set_ylabel(args.metric)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, format="png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
