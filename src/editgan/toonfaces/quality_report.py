"""Writing the quality benchmark's results: JSON, a markdown report with the Table-1-shaped table,
and the Fig. 11 / Fig. 10 plots as PNG (matplotlib, Agg backend, no display needed).

`write_report(results, out)` takes the dict of `quality_bench.run_quality_benchmark` and writes
results.json, report.md, fig11_identity_vs_smile.png and fig10_distance_vs_scale.png atomically.
"""

from __future__ import annotations

import math
from pathlib import Path

from editgan.files import atomic_path, write_json


COLUMNS = (  # (key, header, format)
    ("mask_annotations", "# Mask annot.", "{}"),
    ("attribute_annotations", "# Attribute annot.", "{}"),
    ("attribute_accuracy", "Attribute acc. (%) ↑", "pct"),
    ("fd_toon", "fd_toon ↓", "{:.2f}"),
    ("kd_toon", "kd_toon ↓", "{:.4f}"),
    ("identity", "ID score ↑", "{:.4f}"),
    ("outside_change", "Change outside mouth ↓", "{:.4f}"),
    ("mouth_iou", "Mouth IoU ↑", "{:.3f}"),
    ("smile", "Mean smile", "{:+.3f}"),
    ("step_norm", "W+ step", "{:.2f}"),
)
INCEPTION_COLUMNS = (("fid", "FID ↓", "{:.2f}"), ("kid", "KID ↓", "{:.4f}"))
FIG11 = "fig11_identity_vs_smile.png"
FIG10 = "fig10_distance_vs_scale.png"


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if fmt == "pct":
        return f"{100 * value:.1f}"
    return fmt.format(value)


def markdown_table(rows: list[dict]) -> str:
    """Rows (dicts with "method" and the COLUMNS keys, plus "fid" / "kid" when true FID / KID were
    computed) -> a markdown table; NaN shows as "-"."""
    columns = COLUMNS[:3] + (INCEPTION_COLUMNS if "fid" in rows[0] else ()) + COLUMNS[3:]
    head = "| Method | " + " | ".join(h for _, h, _ in columns) + " |"
    rule = "| --- " * (len(columns) + 1) + "|"
    lines = [head, rule]
    for row in rows:
        lines.append(f"| {row['method']} | " + " | ".join(_cell(row[k], f) for k, _, f in columns) + " |")
    return "\n".join(lines)


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def plot_fig11(curves: list[dict], path: Path) -> None:
    """Identity vs mean smile, one line per (method, refinement steps), points ordered by scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    styles = {"EditGAN": "o-", "InterFaceGAN": "s--", "GANSpace": "^:"}
    groups = sorted({(c["method"], c["refine_steps"]) for c in curves}, key=lambda g: (list(styles).index(g[0]), g[1]))
    for method, k in groups:
        pts = sorted((c for c in curves if c["method"] == method and c["refine_steps"] == k), key=lambda c: c["scale"])
        label = method + (f" + {k} refinement" if k else "")
        ax.plot([p["smile"] for p in pts], [p["identity"] for p in pts], styles.get(method, "x-"), label=label,
                alpha=0.85)
    ax.set_xlabel("mean smile score (attribute network)")
    ax.set_ylabel("ID score (identity similarity to the reconstruction)")
    ax.set_title("Smile benchmark: scales 0..2 (left to right)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)
    plt.close(fig)


def plot_fig10(rows: list[dict], path: Path) -> None:
    """fd_toon and kd_toon vs editing scale, per edit, with and without refinement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edits = sorted({r["edit"] for r in rows})
    fig, axes = plt.subplots(2, len(edits), figsize=(4.2 * len(edits), 6.4), squeeze=False)
    for j, edit in enumerate(edits):
        for i, metric in enumerate(("fd_toon", "kd_toon")):
            ax = axes[i][j]
            for k in sorted({r["refine_steps"] for r in rows}):
                pts = sorted((r for r in rows if r["edit"] == edit and r["refine_steps"] == k), key=lambda r: r["scale"])
                ax.plot([p["scale"] for p in pts], [p[metric] for p in pts], "o-",
                        label="no refinement" if k == 0 else f"+ {k} refinement steps")
            ax.set_title(f"{edit}: {metric} vs rendered data")
            ax.set_xlabel("editing scale")
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


HIGHER_IS_BETTER = {"attribute_accuracy": True, "fd_toon": False, "kd_toon": False, "fid": False, "kid": False,
                    "identity": True, "outside_change": False, "mouth_iou": True}


def comparison(rows: list[dict], editgan: str, baseline: str) -> str:
    """One line: the metrics on which row `editgan` beats / loses to row `baseline` (ties within
    0.5% of the larger magnitude are called even)."""
    by_name = {r["method"]: r for r in rows}
    a, b = by_name[editgan], by_name[baseline]
    wins, losses, even = [], [], []
    for key, higher in HIGHER_IS_BETTER.items():
        va, vb = a.get(key), b.get(key)
        if va is None or vb is None or (isinstance(va, float) and math.isnan(va)) or \
                (isinstance(vb, float) and math.isnan(vb)):
            continue
        text = f"{key} {va:.4g} vs {vb:.4g}"
        if abs(va - vb) <= 0.005 * max(abs(va), abs(vb), 1e-12):
            even.append(text)
        elif (va > vb) == higher:
            wins.append(text)
        else:
            losses.append(text)
    return (f"- {editgan} vs {baseline}: better on {', '.join(wins) or 'nothing'}; worse on "
            f"{', '.join(losses) or 'nothing'}" + (f"; even on {', '.join(even)}" if even else "") + ".")


def _fig10_table(rows: list[dict]) -> str:
    lines = ["| edit | scale | refinement | fd_toon | kd_toon | mean smile | mean eye_open |", "| --- " * 7 + "|"]
    for r in sorted(rows, key=lambda r: (r["edit"], r["scale"], r["refine_steps"])):
        lines.append(f"| {r['edit']} | {r['scale']:g} | {r['refine_steps']} | {r['fd_toon']:.2f} | "
                     f"{r['kd_toon']:.4f} | {r['smile']:+.3f} | {r['eye_open']:.3f} |")
    return "\n".join(lines)


def _curve_table(rows: list[dict]) -> str:
    lines = ["| method | scale | refinement | mean smile | acc. (%) | ID score | change outside mouth |",
             "| --- " * 7 + "|"]
    for r in sorted(rows, key=lambda r: (r["method"], r["refine_steps"], r["scale"])):
        lines.append(f"| {r['method']} | {r['scale']:g} | {r['refine_steps']} | {r['smile']:+.3f} | "
                     f"{100 * r['attribute_accuracy']:.1f} | {r['identity']:.4f} | {r['outside_change']:.4f} |")
    return "\n".join(lines)


def _editgan_rows(rows: list[dict]) -> list[str]:
    """EditGAN without refinement and with its longest refinement."""
    names = [r["method"] for r in rows if r["method"].startswith("EditGAN")]
    return names[:1] + names[-1:] if len(names) > 1 else names


def render_markdown(results: dict, notes: str = "") -> str:
    """The report's markdown: settings, the table, the method details, the curves, and notes."""
    s, m = results["settings"], results["methods"]
    calib = {k: v["info"].get("calibration", {}) for k, v in m.items()}
    scale_lines = "\n".join(
        f"- {name}: scale {m[name]['scale']:.3f} (basis: {c.get('basis')}; the W+-step-norm match would be "
        f"{c.get('norm_matched_scale', float('nan')):.3f}; EditGAN's calibration smile change "
        f"{c.get('editgan_change', float('nan')):+.3f})"
        for name, c in calib.items() if c)
    return f"""# Smile-edit benchmark on toonfaces (EditGAN Sec. 4.2, 4.3)

Bundle: `{results['bundle']}` ({results['resolution']} px). Run time {results['seconds'] / 60:.1f} min
(the steps this invocation computed; a rerun takes cached ones from disk). Command: `{results.get('command') or 'editgan bench quality'}`.
Sizes: {s['n_faces']} held-out neutral test faces (smile 0, mouth closed), embedded (from
{'the encoder' if results.get('embedding_init') == 'encoder' else 'w_avg'}) with {s['embed_steps']} optimisation steps; {s['n_reference']} held-out rendered reference faces; {s['n_calib']} calibration
faces; {s['n_svm']:,} labelled GAN samples for the baselines; curves on the first {s['n_curve']} test faces.
Target smile {s['smile']}; mouth region dilated by {results['mouth_dilation_px']} px.

## Table (shaped like the paper's Table 1)

{markdown_table(results['table'])}

Columns: attribute accuracy = share of edited faces the attribute network calls smiling (smile >
0.25); fd_toon / kd_toon = Fréchet / kernel distance in the toon measuring networks' features to
held-out rendered faces of other people smiling ({s['smile']}) (analogues of FID / KID, not those
metrics); ID score = identity-network cosine to the unedited reconstruction; change outside mouth =
mean |edited - reconstruction| (images in [0, 1]) outside the renderer's mouth before and after
the edit, dilated; mouth IoU = data-set IoU of the segmenter's mouth parts on the edited image with
the renderer's mouth of the same face smiling; W+ step = mean ||w+_edited - w+||.
The oracle row compares the renderer's smiling face with its neutral render.

## Matched scales

Baselines are unit directions in W applied to every layer of w+. Each is applied at the scale at
which its mean smile change on the calibration faces equals EditGAN's at s = 1 (so the table
compares methods at equal edit strength, the comparison Fig. 11's curves make); matching the W+
step norm instead would ignore that a direction spread over all layers and one concentrated on
the mouth layers need different step sizes for the same change.

{scale_lines}

## Where EditGAN wins and loses (computed from the table)

{chr(10).join(comparison(results['table'], e, b) for e in _editgan_rows(results['table']) for b in ('InterFaceGAN', 'GANSpace'))}

## Fig. 11: identity vs smile for scales 0..2

![fig11]({FIG11})

{_curve_table(results['curves'])}

## Fig. 10: distance to rendered data vs editing scale

Reference: {s['n_reference']} held-out rendered faces with sampled expressions (the data
distribution, as the paper measures FID against GAN training data); {s['n_curve']} edited faces
per point, so fd_toon carries a large small-sample bias (compare points with each other, not with
other tables); kd_toon is unbiased but noisy.

![fig10]({FIG10})

{_fig10_table(results['fig10'])}
{notes}"""


def json_safe(value):
    """NaN / inf -> None (strict JSON), recursively through dicts, lists and tuples."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_report(results: dict, out: str | Path, notes: str = "") -> Path:
    """Write results.json, report.md and the two PNG plots into `out`; returns the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", json_safe(results))
    plot_fig11(results["curves"], out / FIG11)
    plot_fig10(results["fig10"], out / FIG10)
    report = out / "report.md"
    with atomic_path(report) as tmp:
        tmp.write_text(render_markdown(results, notes), encoding="utf-8")
    return report
