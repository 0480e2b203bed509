"""Short GPU benches for a lent accelerator (issue 28, the GPU lane): generator forward/backward at 256
and 1024 px (random weights, published config-f widths), a 30-step edit and a vector apply at 1024 px,
GAN training images/s at 128 px in fp32 and bf16. Each bench is bounded (a few timed iterations after
one warm-up) so that the whole set finishes in a few minutes on an H100; results go to
OUT/device_check.json (one record per bench, plus the device and torch versions).

    python bench/device_check.py --out DIR            # on CUDA (refuses to run without it)
    python bench/device_check.py --out DIR --dry-run  # the same steps on CPU at tiny sizes, seconds

The dry run exists so that CI keeps the script working (tests/test_device_check.py)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from editgan.nn.config import GeneratorConfig
from editgan.nn.stylegan2 import Generator

# config-f widths (StyleGAN2, 1024 px): 512 up to 32 px, then 256, 128, 64, 32.
CONFIG_F = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
TINY = dict(z_dim=16, w_dim=16, num_mapping_layers=2)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device, iters: int) -> float:
    """Seconds per call of fn (one untimed warm-up call first)."""
    fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / iters


def make_generator(resolution: int, device: torch.device, dry: bool) -> Generator:
    if dry:
        cfg = GeneratorConfig(resolution=16, channels={4: 16, 8: 16, 16: 8}, **TINY)
    else:
        cfg = GeneratorConfig(resolution=resolution, z_dim=512, w_dim=512, num_mapping_layers=8,
                              channels={r: c for r, c in CONFIG_F.items() if r <= resolution})
    torch.manual_seed(0)
    return Generator(cfg).to(device).eval()


def bench_generator(resolution: int, device: torch.device, dry: bool, batch: int, iters: int) -> dict:
    G = make_generator(resolution, device, dry)
    num_ws, w_dim = G.config.num_ws, G.config.w_dim
    wplus = torch.randn(batch, num_ws, w_dim, device=device)

    def forward():
        with torch.no_grad():
            G.synthesis(wplus)

    def backward():
        w = wplus.clone().requires_grad_(True)
        G.synthesis(w).square().mean().backward()

    G.requires_grad_(False)
    fwd = _time(forward, device, iters)
    bwd = _time(backward, device, iters)
    return dict(resolution=G.config.resolution, batch=batch, forward_s=fwd, forward_backward_s=bwd,
                forward_images_per_s=batch / fwd, forward_backward_images_per_s=batch / bwd,
                peak_memory_mib=_peak_mib(device))


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _tiny_segmenter(G, device):
    """A random one-member, three-class segmenter reading every feature map; its label map is at most
    256 px (a 1024-px map of config-f's ~5k feature channels would time memory, not the edit)."""
    from editgan.nn.segmenter import Segmenter
    from editgan.nn.segmenter_config import SegmenterConfig
    cfg = SegmenterConfig.for_generator(G.config, num_classes=3, num_members=1,
                                        out_resolution=min(G.config.resolution, 256))
    seg = Segmenter(cfg, seeds=[0])
    return seg.to(device).eval().requires_grad_(False)


def bench_edit_and_apply(resolution: int, device: torch.device, dry: bool, steps: int) -> tuple[dict, dict]:
    """`learn_edit` for `steps` steps (segmentation loss on a painted square, perceptual term off: no
    download of LPIPS weights on an offline machine) and applying the learned vector (w+ + δ and a render)."""
    from editgan.edit.apply import apply_vectors
    from editgan.edit.optimize import learn_edit
    from editgan.nn.segmenter import render_and_segment

    G = make_generator(resolution, device, dry).requires_grad_(False)
    seg = _tiny_segmenter(G, device)
    torch.manual_seed(1)
    wplus = G.mapping(torch.randn(1, G.config.z_dim, device=device))[:, None].repeat(1, G.config.num_ws, 1)
    target = render_and_segment(G, seg, wplus)[1].labels.clone()
    h, w = target.shape[-2:]
    target[:, h // 4: h // 2, w // 4: w // 2] = 2
    _sync(device)
    start = time.perf_counter()
    result = learn_edit(G, seg, wplus, target, [2], steps=steps, lr=0.05, buffer=1, perceptual_weight=0.0)
    _sync(device)
    edit_s = time.perf_counter() - start
    delta = result.delta[0].detach()

    def apply():
        with torch.no_grad():
            G.synthesis(apply_vectors(wplus, [(delta, 1.0)]))

    apply_s = _time(apply, device, 3)
    edit = dict(resolution=G.config.resolution, steps=steps, seconds=edit_s, steps_per_s=steps / edit_s,
                finite=bool(torch.isfinite(delta).all()), first_losses=result.losses[0],
                last_losses=result.losses[-1], segmenter_resolution=seg.config.out_resolution, peak_memory_mib=_peak_mib(device))
    return edit, dict(resolution=G.config.resolution, seconds=apply_s)


def bench_gan_training(device: torch.device, dry: bool, precision: str, steps: int) -> dict:
    from editgan.train.gan import GANTrainConfig, GANTrainer

    if dry:
        channels, res, batch, gen = {4: 16, 8: 16, 16: 8}, 16, 4, dict(z_dim=16, w_dim=16, num_mapping_layers=2)
    else:  # the default toonfaces bundle's 128-px widths
        channels = {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 32}
        res, batch, gen = 128, 32, dict(z_dim=256, w_dim=256, num_mapping_layers=4)
    cfg = GANTrainConfig(generator=dict(resolution=res, channels=channels, **gen),
                         discriminator=dict(channels=channels), batch=batch, precision=precision,
                         pl_weight=2.0, pl_interval=4, r1_interval=16)

    class Source:
        images = torch.rand(64, 3, res, res, generator=torch.Generator().manual_seed(0)) * 2 - 1

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return self.images[i]

    t = GANTrainer(cfg, Source(), device=device)
    t.step()  # warm-up (R1 and path length both run on step 0)
    _sync(device)
    start = time.perf_counter()
    stats = [t.step() for _ in range(steps)]
    _sync(device)
    seconds = time.perf_counter() - start
    finite = all(torch.isfinite(torch.tensor(v)).item() for s in stats for v in s.values())
    return dict(precision=precision, resolution=res, batch=batch, steps=steps, seconds=seconds,
                images_per_s=steps * batch / seconds, finite=finite, last=stats[-1],
                peak_memory_mib=_peak_mib(device))


def run(out: Path, dry: bool) -> dict:
    if dry:
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        raise SystemExit("device_check: CUDA is not available (use --dry-run for the CPU smoke run)")
    else:
        device = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = True  # benches time the fast path; parity tests turn it off
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    out.mkdir(parents=True, exist_ok=True)
    report = dict(dry_run=dry, device=str(device), torch=torch.__version__, python=platform.python_version(),
                  gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                  started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), benches={}, errors={})
    path = out / "device_check.json"

    def record(name, fn):
        start = time.perf_counter()
        try:
            report["benches"][name] = fn()
        except Exception as e:  # noqa: BLE001 - one failing bench must not lose the others' numbers
            report["errors"][name] = f"{type(e).__name__}: {e}"
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        path.write_text(json.dumps(report, indent=1))  # written after every bench: a timeout keeps the rest

    for res, batch in ((256, 8), (1024, 4)):
        record(f"generator_{res}", lambda: bench_generator(res, device, dry, 2 if dry else batch, 2 if dry else 5))
    parts = {}
    record("edit_1024", lambda: parts.setdefault("e", bench_edit_and_apply(1024, device, dry, 3 if dry else 30))[0])
    if "e" in parts:
        report["benches"]["apply_1024"] = parts["e"][1]
    for precision in ("fp32", "bf16"):
        record(f"gan_training_128_{precision}", lambda: bench_gan_training(device, dry, precision, 2 if dry else 20))
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path.write_text(json.dumps(report, indent=1))
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.environ.get("OUT") or "outputs/device_check")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, seconds (CI)")
    args = p.parse_args(argv)
    report = run(Path(args.out), args.dry_run)
    print(json.dumps({k: v for k, v in report.items() if k != "benches"}, indent=1))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
