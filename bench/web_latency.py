"""Slider latency of the web tool (`editgan serve`), measured on a real server and in real Chromium.

Starts the app on a bundle (default: the packaged one) with a scratch vector library, opens the page
in headless Chromium (Debian's /usr/bin/chromium via playwright), samples --seed, paints a stroke
that widens --part (default: the smallest part present), learns the edit (--edit-steps), saves it as
a vector and then measures, for --repeats slider moves after --warmup:

- server: the compute time the server reports for each apply request (X-Compute-Ms: resolve the
  vectors, w+ + Σ s·δ, render, PNG-encode), from an HTTP client hitting the running server, and
  that client's whole round trip;
- browser: from the slider's input event to the new image decoded and shown (the page's own
  measurement, `window.editgan.latencies`), one move at a time (no coalescing).

Prints a table, writes bench/results/web_latency.json and, with --screenshots DIR, small PNG
screenshots of the main screens (sample + segmentation, painting, edit result, sliders).

    python bench/web_latency.py --part mouth_interior --seed 3 --screenshots reports/web
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import editgan
from editgan.app import create_app
from editgan.app.runner import BackgroundServer

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "median_ms": statistics.median(ms), "p90_ms": float(np.percentile(ms, 90)),
            "min_ms": min(ms), "max_ms": max(ms)}


def shot(page, out: Path | None, name: str) -> None:
    """A screenshot reduced to a 256-colour palette (small files for the repository)."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    with Image.open(path) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"screenshot {path} ({path.stat().st_size // 1024} KiB)")


def widen_stroke(page, part: str | None) -> tuple[str, list, list, int]:
    """A horizontal stroke through the chosen part, half its width longer on each side ->
    (part name, start and end as page coordinates, brush diameter in label pixels)."""
    info = page.evaluate("window.editgan.info")
    h, w = info["label_size"]
    labels = np.array(page.evaluate("Array.from(window.editgan.original)")).reshape(h, w)
    names = [l["name"] for l in info["labels"]]
    present = [i for i in np.unique(labels) if i != 0]
    index = names.index(part) if part else min(present, key=lambda i: (labels == i).sum())
    ys, xs = np.nonzero(labels == index)
    if not len(ys):
        raise SystemExit(f"part {names[index]!r} does not occur in this sample; try another --seed or --part")
    x0, x1, cy = xs.min(), xs.max() + 1, ys.mean() + 0.5
    extra = max(2, (x1 - x0) // 2)
    box = page.locator("#overlay").bounding_box()

    def screen(x, y):
        return [box["x"] + x * box["width"] / w, box["y"] + y * box["height"] / h]

    size = int(max(2, ys.max() - ys.min() + 1))
    return names[index], screen(max(0, x0 - extra), cy), screen(min(w, x1 + extra), cy), size


def browser_run(url: str, args, out: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        page.fill("#seed", str(args.seed))
        page.click("#sample-btn")
        page.wait_for_function(f"document.querySelector('#source').textContent === 'seed {args.seed}' "
                               "&& !window.editgan.applying")
        page.locator("#opacity").fill("0.45")
        page.dispatch_event("#opacity", "input")
        shot(page, out, "1-sample-segmentation")

        part, start, end, size = widen_stroke(page, args.part)
        page.locator("#palette li", has_text=part).first.click()
        page.locator("#brush-size").fill(str(size))
        page.dispatch_event("#brush-size", "input")
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=12)
        page.mouse.up()
        page.locator("#opacity").fill("0.8")
        page.dispatch_event("#opacity", "input")
        shot(page, out, "2-painting")

        page.fill("#edit-steps", str(args.edit_steps))
        t0 = time.perf_counter()
        page.click("#edit-btn")
        page.wait_for_selector("#result:not([hidden])", timeout=600_000)
        edit_s = time.perf_counter() - t0
        shot(page, out, "3-edit-result")
        name = f"wider_{part}"[:64]
        page.fill("#vector-name", name)
        page.click("#save-btn")
        slider = page.locator(f"#library li[data-name='{name}'] input[type=range]")
        slider.wait_for()
        page.wait_for_function("!window.editgan.applying")

        slider.focus()
        for i in range(args.warmup + args.repeats):
            count = page.evaluate("window.editgan.latencies.length")
            page.keyboard.press("ArrowRight" if (i // 20) % 2 == 0 else "ArrowLeft")  # sweep 0..1 and back
            page.wait_for_function(f"window.editgan.latencies.length > {count} && !window.editgan.applying")
        latencies = page.evaluate("window.editgan.latencies")[args.warmup:]
        slider.evaluate("(el) => { el.value = 1; el.dispatchEvent(new Event('input')); }")  # scale 1 for the picture
        page.wait_for_function(f"window.editgan.latencies.length > {args.warmup + args.repeats}")
        page.wait_for_function("!window.editgan.applying")
        shot(page, out, "4-sliders")
        browser.close()
    return {"part": part, "vector": name, "edit_steps": args.edit_steps, "edit_s": edit_s,
            "browser": summary(latencies)}


def server_run(url: str, session_id: str, vector: str, args) -> dict:
    import httpx2

    compute, round_trip = [], []
    with httpx2.Client(base_url=url) as client:
        for i in range(args.warmup + args.repeats):
            scale = -2 + 4 * (i % 41) / 40
            t0 = time.perf_counter()
            r = client.post(f"/api/sessions/{session_id}/apply", json={"scales": {vector: scale}})
            dt = (time.perf_counter() - t0) * 1000
            r.raise_for_status()
            if i >= args.warmup:
                compute.append(float(r.headers["x-compute-ms"]))
                round_trip.append(dt)
    return {"server_compute": summary(compute), "http_round_trip": summary(round_trip)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default="toonfaces")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--part", help="label to widen with the painted stroke (default: smallest present)")
    parser.add_argument("--edit-steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path, help="write screenshots of the main screens here")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "web_latency.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="editgan-bench-vectors-") as vectors:
        editor = editgan.load(args.bundle, vectors=vectors)
        app = create_app(editor)
        with BackgroundServer(app) as url:
            result = browser_run(url, args, args.screenshots)
            service = app.state.service
            session = service.sessions.create()
            service.sample(session, args.seed, 1.0)
            result.update(server_run(url, session.id, result["vector"], args))
    cfg = editor.generator.config
    result["meta"] = {"bundle": editor.bundle.path.name, "resolution": cfg.resolution,
                      "label_size": list(service.label_size), "seed": args.seed, "warmup": args.warmup,
                      "machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
                      "torch_threads": torch.get_num_threads(), "python": platform.python_version()}
    print(f"bundle {result['meta']['bundle']} ({cfg.resolution}px), {args.repeats} slider moves after "
          f"{args.warmup} warm-up, edit of '{result['part']}' in {args.edit_steps} steps took {result['edit_s']:.1f} s\n")
    print("| measured | median (ms) | p90 (ms) | min (ms) | max (ms) |\n| --- | --- | --- | --- | --- |")
    for key, label in (("server_compute", "server compute per apply (X-Compute-Ms)"),
                       ("http_round_trip", "HTTP round trip, python client"),
                       ("browser", "browser: slider input -> image shown")):
        s = result[key]
        print(f"| {label} | {s['median_ms']:.1f} | {s['p90_ms']:.1f} | {s['min_ms']:.1f} | {s['max_ms']:.1f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "web_latency", **result}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
