"""Differentiable building-block ops of StyleGAN2, as pure functions on tensors.

Conventions follow the published StyleGAN2 (NVIDIA stylegan2-ada-pytorch) semantics so that real
checkpoints reproduce their images:

* `upfirdn2d`: upsample by zero insertion, pad, FIR-filter (true convolution), downsample.
* `modulated_conv2d`: style modulation, optional demodulation, in fused (grouped, per-sample
  weights) or non-fused (scale activations, shared weights) form; both compute the same function.
* Upsampling convolutions are true convolutions (transposed strided conv), regular ones are
  cross-correlations, exactly as in the published networks.

All ops take NCHW float tensors and work on CPU and CUDA; none loops over channels in Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def make_filter(taps=(1, 3, 3, 1), device=None) -> torch.Tensor:
    """Separable FIR filter: 1-D taps -> normalised 2-D kernel [k, k] summing to 1.

    Examples:
        >>> f = make_filter([1, 3, 3, 1])
        >>> f.shape, float(f.sum())
        (torch.Size([4, 4]), 1.0)
        >>> f[0].tolist()
        [0.015625, 0.046875, 0.046875, 0.015625]
    """
    f = torch.as_tensor(taps, dtype=torch.float32, device=device)
    if f.ndim != 1 or f.numel() < 1:
        raise ValueError("filter taps must be a non-empty 1-D sequence")
    f2 = f[:, None] * f[None, :]
    return f2 / f2.sum()


def _as_pad4(pad) -> tuple[int, int, int, int]:
    """(p) or (px, py) or (px0, px1, py0, py1) -> (px0, px1, py0, py1)."""
    if isinstance(pad, int):
        return (pad, pad, pad, pad)
    pad = tuple(int(p) for p in pad)
    if len(pad) == 2:
        return (pad[0], pad[0], pad[1], pad[1])
    if len(pad) != 4:
        raise ValueError(f"padding must have 1, 2 or 4 entries, got {pad}")
    return pad  # type: ignore[return-value]


def upfirdn2d(
    x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1, pad=0, gain: float = 1.0
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with the 2-D FIR filter `f`, downsample.

    x: [N, C, H, W]; f: [fh, fw] (true convolution; symmetric filters make this moot);
    pad: (px0, px1, py0, py1), negative values crop. Output height is
    (H * up + py0 + py1 - fh + 1) // down (ceil), likewise for width. `gain` scales the output.

    Examples:
        >>> x = torch.ones(1, 2, 8, 8)
        >>> upfirdn2d(x, make_filter([1, 3, 3, 1]), up=2, pad=(2, 1, 2, 1), gain=4).shape
        torch.Size([1, 2, 16, 16])
        >>> upfirdn2d(x, make_filter([1, 1]), down=2).shape  # (8 + 0 - 2 + 1) // 2, ceil
        torch.Size([1, 2, 4, 4])
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = _as_pad4(pad)
    fh, fw = f.shape
    # One depthwise kernel per channel (a broadcast view, no copy): oneDNN/cuDNN have fast
    # depthwise paths, and the input keeps its memory format (channels_last stays so).
    kernel = (f * gain).to(x.dtype).reshape(1, 1, fh, fw).expand(c, 1, fh, fw)
    if up > 1:
        # conv_transpose2d scatters x[i] * f[k] to i*up + k: the full convolution of the
        # zero-inserted signal with f (length (L-1)*up + fk). upfirdn's valid window after
        # padding (p0, p1) starts at fk-1-p0 of that full convolution.
        y = F.conv_transpose2d(x, kernel, stride=up, groups=c)
        out_h, out_w = h * up + py0 + py1 - fh + 1, w * up + px0 + px1 - fw + 1
        top, left = fh - 1 - py0, fw - 1 - px0
        y = F.pad(y, [-left, left + out_w - y.shape[3], -top, top + out_h - y.shape[2]])
        return y[:, :, ::down, ::down] if down > 1 else y
    if px0 == px1 >= 0 and py0 == py1 >= 0:  # symmetric: the conv pads itself, no padded copy
        return F.conv2d(x, kernel.flip([2, 3]), stride=down, padding=(py0, px0), groups=c)
    y = F.pad(x, [px0, px1, py0, py1])
    return F.conv2d(y, kernel.flip([2, 3]), stride=down, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Filtered upsampling `[N, C, H, W] -> [N, C, H*up, W*up]` (StyleGAN2's skip-image upsampler).

    Examples:
        >>> y = upsample2d(torch.ones(1, 2, 8, 8), make_filter([1, 3, 3, 1]))
        >>> y.shape, float(y[0, 0, 4, 4])  # a constant stays constant away from the zero-padded border
        (torch.Size([1, 2, 16, 16]), 1.0)
    """
    fh, fw = f.shape
    pad = ((fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2)
    return upfirdn2d(x, f, up=up, pad=pad, gain=up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2) -> torch.Tensor:
    """Filtered downsampling [N,C,H,W] -> [N,C,H/down,W/down].

    Examples:
        >>> y = downsample2d(torch.ones(1, 2, 8, 8), make_filter([1, 3, 3, 1]))
        >>> y.shape, float(y[0, 0, 2, 2])
        (torch.Size([1, 2, 4, 4]), 1.0)
    """
    fh, fw = f.shape
    pad = ((fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2)
    return upfirdn2d(x, f, down=down, pad=pad)


def conv2d_resample(
    x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
    padding: int = 0, groups: int = 1, bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolution with optional filtered 2x up- or downsampling (StyleGAN2 semantics), plus bias.

    x: [N, Cin, H, W]; weight: [Cout, Cin/groups, k, k]; bias: [Cout] or None. With up=2 the op is a
    true convolution (transposed strided conv) followed by the FIR filter; with down=2 the FIR
    filter precedes a strided cross-correlation; otherwise a plain cross-correlation with `padding`.
    """
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample supports up or down, not both")
    cout, cin_g, kh, kw = weight.shape
    if up > 1:
        fh, fw = f.shape
        # Transposed conv wants [Cin, Cout/groups, k, k] (per group).
        w = weight.reshape(groups, cout // groups, cin_g, kh, kw).transpose(1, 2)
        w = w.reshape(groups * cin_g, cout // groups, kh, kw)
        x = F.conv_transpose2d(x, w, stride=up, groups=groups)
        px0 = padding + (fw + up - 1) // 2 - (kw - 1)
        px1 = padding + (fw - up) // 2 - (kw - up)
        py0 = padding + (fh + up - 1) // 2 - (kh - 1)
        py1 = padding + (fh - up) // 2 - (kh - up)
        x = upfirdn2d(x, f, pad=(px0, px1, py0, py1), gain=up * up)
        return x if bias is None else x.add_(bias.reshape(1, -1, 1, 1))
    if down > 1:
        fh, fw = f.shape
        px0 = padding + (fw - down + 1) // 2
        px1 = padding + (fw - down) // 2
        py0 = padding + (fh - down + 1) // 2
        py1 = padding + (fh - down) // 2
        # The filter runs at stride 1 and the conv strides (for 1x1 kernels too): oneDNN's bf16
        # depthwise conv has no fast strided path (~10 ms at any size here), its stride-1 one does.
        x = upfirdn2d(x, f, pad=(px0, px1, py0, py1))
        return F.conv2d(x, weight, bias, stride=down, groups=groups)
    return F.conv2d(x, weight, bias, padding=padding, groups=groups)


@dataclass(frozen=True)
class PreparedWeight:
    """A frozen conv weight [Cout, Cin, k, k] prepared once for a compute dtype: `cast`, the weight in
    that dtype, and `square_sums` = sum_k w^2 [Cout, Cin] in the weight's own precision (what the
    demodulation needs). Valid while the weight is unchanged (the layer that keeps it checks)."""

    cast: torch.Tensor
    square_sums: torch.Tensor

    @staticmethod
    @torch.no_grad()
    def of(weight: torch.Tensor, dtype: torch.dtype) -> PreparedWeight:
        return PreparedWeight(weight.to(dtype), weight.square().sum(dim=[2, 3]))


def demodulation_coefficients(weight: torch.Tensor, styles: torch.Tensor, eps: float = 1e-8,
                              square_sums: torch.Tensor | None = None) -> torch.Tensor:
    """1 / ||w * s|| per sample and output channel: weight [Cout,Cin,k,k], styles [N,Cin] -> [N,Cout].

    Computed as (s^2) @ (sum_k w^2)^T so the per-sample weights never materialise; square_sums: that
    sum_k w^2 [Cout, Cin] precomputed (`PreparedWeight`).
    """
    wsq = weight.square().sum(dim=[2, 3]) if square_sums is None else square_sums  # [Cout, Cin]
    return (styles.square() @ wsq.t() + eps).rsqrt()


def modulated_conv2d(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
    up: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
    fused: bool = True, bias: torch.Tensor | None = None, gain: float = 1.0,
    prepared: PreparedWeight | None = None,
) -> torch.Tensor:
    """Style-modulated convolution.

    x: [N, Cin, H, W]; weight: [Cout, Cin, k, k] (already multiplied by its runtime gain);
    styles: [N, Cin]. Returns `[N, Cout, H*up, W*up]` (for k=3, padding=1).
    fused=True builds per-sample weights and runs one grouped convolution (best for inference at
    small batch); fused=False scales activations and shares one weight across the batch (best for
    training batches and for gradients w.r.t. the styles with frozen weights).
    Returns gain * (conv + bias), with bias [Cout] and gain folded into one pass over the output
    (at high resolution these epilogues are memory-bound).
    Mixed precision: the result has x's dtype (e.g. bf16 activations); weight, styles and bias may
    be float32 masters, cast here, and the demodulation coefficients are computed in their precision.
    prepared: the frozen weight's cast and square sums computed once (`PreparedWeight`; the non-fused
    and mixed forms use them instead of recomputing them per call).

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, weight = torch.randn(2, 3, 8, 8, generator=g), torch.randn(4, 3, 3, 3, generator=g)
        >>> styles = torch.rand(2, 3, generator=g) + 0.5
        >>> fused = modulated_conv2d(x, weight, styles, padding=1, fused=True)
        >>> fused.shape
        torch.Size([2, 4, 8, 8])
        >>> torch.allclose(fused, modulated_conv2d(x, weight, styles, padding=1, fused=False), atol=1e-5)
        True
    """
    n, cin, h, w = x.shape
    cout = weight.shape[0]
    if styles.shape != (n, cin):
        raise ValueError(f"styles must be [{n}, {cin}], got {list(styles.shape)}")
    if x.dtype != weight.dtype:
        return _modulated_conv2d_mixed(x, weight, styles, demodulate=demodulate, up=up, padding=padding,
                                       resample_filter=resample_filter, bias=bias, gain=gain, prepared=prepared)
    if fused:
        wmod = weight.unsqueeze(0) * styles.reshape(n, 1, cin, 1, 1)  # [N, Cout, Cin, k, k]
        if demodulate:
            wmod = wmod * (wmod.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, cout, 1, 1, 1)
        wmod = wmod.reshape(n * cout, cin, *weight.shape[2:])
        y = conv2d_resample(x.reshape(1, n * cin, h, w), wmod, resample_filter, up=up, padding=padding, groups=n)
        y = y.reshape(n, cout, y.shape[2], y.shape[3])
        if bias is None:
            return y if gain == 1 else y * gain
        return torch.add((bias * gain).reshape(1, cout, 1, 1), y, alpha=gain)
    y = conv2d_resample(x * styles.reshape(n, cin, 1, 1), weight, resample_filter, up=up, padding=padding)
    square_sums = prepared.square_sums if prepared is not None else None
    scale = demodulation_coefficients(weight, styles, square_sums=square_sums) * gain if demodulate else None
    if bias is None:
        return y * (scale.reshape(n, cout, 1, 1) if scale is not None else gain)
    if scale is None:
        return torch.add((bias * gain).reshape(1, cout, 1, 1), y, alpha=gain)
    return torch.addcmul((bias * gain).reshape(1, cout, 1, 1), y, scale.reshape(n, cout, 1, 1))


def _modulated_conv2d_mixed(x, weight, styles, *, demodulate, up, padding, resample_filter, bias, gain, prepared):
    """Non-fused modulated conv computed in x.dtype from higher-precision weight/styles/bias
    (per-sample weights would be built in the masters' precision, so `fused` does not apply)."""
    n, cout, dtype = x.shape[0], weight.shape[0], x.dtype
    f = resample_filter.to(dtype) if resample_filter is not None else None
    cast = prepared.cast if prepared is not None and prepared.cast.dtype == dtype else weight.to(dtype)
    y = conv2d_resample(x * styles.to(dtype).reshape(n, -1, 1, 1), cast, f, up=up, padding=padding)
    square_sums = prepared.square_sums if prepared is not None else None
    scale = demodulation_coefficients(weight, styles, square_sums=square_sums) * gain if demodulate else \
        styles.new_full((n, 1), gain)
    shift = bias * gain if bias is not None else weight.new_zeros(cout)
    return torch.addcmul(shift.to(dtype).reshape(1, cout, 1, 1), y, scale.to(dtype).reshape(n, -1, 1, 1))


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, *, act: str = "lrelu", gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """Add per-channel bias, apply activation ('lrelu' has gain sqrt(2) built in, or 'linear'),
    multiply by `gain`, clamp to [-clamp, clamp]. x: [N, C, ...]; bias: [C].

    Examples:
        >>> bias_act(torch.tensor([[-1.0, 2.0]]), torch.tensor([0.0, 1.0]))  # leaky ReLU (0.2) times sqrt(2)
        tensor([[-0.2828,  4.2426]])
        >>> bias_act(torch.tensor([[-1.0, 2.0]]), None, act="linear", clamp=1.5)
        tensor([[-1.0000,  1.5000]])
    """
    if bias is not None:
        x = x + bias.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
        gain = gain * SQRT2
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) along `dim` (StyleGAN's pixel norm of z).

    Examples:
        >>> z = normalize_2nd_moment(torch.tensor([[3.0, 4.0]]))
        >>> z, round(float(z.square().mean()), 6)
        (tensor([[0.8485, 1.1314]]), 1.0)
    """
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
