"""Independent float64 reference of the StyleGAN2 generator, written from the published math.

It shares no code with `editgan.nn`: explicit per-sample loops, zero insertion by indexing, and
plain `F.conv2d`/`F.conv_transpose2d` on float64 tensors. Two drivers read the two published
weight layouts directly by their own key names:

* `nvidia_*`: NVIDIA stylegan2-ada-pytorch `training/networks.py` (and stylegan3
  `training/networks_stylegan2.py`), flat state dict ("mapping.fc0.weight", "synthesis.b8.conv0...").
  Its upsampling conv follows conv2d_resample's general path: zero-insert x2, pad, FIR filter
  with gain 4, then a valid *true* convolution (flip_weight=False for up layers).
* `rosinality_*`: rosinality stylegan2-pytorch `model.py`, `g_ema` state dict. Its upsampling
  conv is `conv_transpose2d(stride=2)` followed by a blur with pad (1, 1), as in that code.

Math (both): mapping = 2nd-moment normalisation then FC layers y = lrelu(x W^T * lr/sqrt(in) +
b * lr) * sqrt(2); style s = A w (gain 1/sqrt(w_dim), bias init 1); modulated conv weights
W'_nocij = W_ocij s_ni, demodulated by 1/sqrt(sum_cij W'^2 + 1e-8); noise const x strength;
bias, lrelu(0.2) x sqrt(2), optional clamp; ToRGB: 1x1, styles x 1/sqrt(in), no demodulation;
skip image upsampled by upfirdn2d(up=2, pad=(2, 1), gain=4) with filter [1,3,3,1] (x) [1,3,3,1] / 64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

D = torch.float64
SQRT2 = math.sqrt(2.0)


def fir_filter() -> torch.Tensor:
    """[4, 4] float64: outer([1,3,3,1], [1,3,3,1]) normalised to sum 1."""
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=D)
    f2 = torch.outer(f, f)
    return f2 / f2.sum()


def lrelu(x, gain=SQRT2, clamp=None):
    y = torch.where(x >= 0, x, 0.2 * x) * gain
    return y.clamp(-clamp, clamp) if clamp is not None else y


def normalize_2nd_moment(z):
    return z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


def equal_fc(x, weight, bias, lr_mul=1.0, act=False):
    """y = x (W lr/sqrt(in))^T + b lr, then lrelu x sqrt2 if act."""
    weight, bias = weight.to(D), bias.to(D)
    y = x @ (weight * (lr_mul / math.sqrt(weight.shape[1]))).t() + bias * lr_mul
    return lrelu(y) if act else y


def zero_insert(x, factor=2):
    """[N, C, H, W] -> [N, C, H*f, W*f] with x at (f*i, f*j) and zeros elsewhere."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, h * factor, w * factor, dtype=x.dtype)
    out[:, :, ::factor, ::factor] = x
    return out


def upfirdn2d(x, f, up=1, pad=(0, 0, 0, 0), gain=1.0):
    """Zero-insert by `up`, pad (x0, x1, y0, y1), true-convolve with f (valid). Per channel."""
    n, c, _, _ = x.shape
    if up > 1:
        x = zero_insert(x, up)
    x = F.pad(x, list(pad))
    k = (f * gain).flip([0, 1]).to(D)[None, None]
    y = F.conv2d(x.reshape(n * c, 1, *x.shape[2:]), k)
    return y.reshape(n, c, *y.shape[2:])


def upfirdn2d_direct(x: np.ndarray, f: np.ndarray, up: int, pad: tuple[int, int], gain: float) -> np.ndarray:
    """Textbook definition on one 2-D array, by loops: y[i,j] = gain sum_{a,b} f[a,b] u[i-a+fh-1, j-b+fw-1],
    u = padded zero-inserted x (same pad on both axes)."""
    h, w = x.shape
    u = np.zeros((h * up + pad[0] + pad[1], w * up + pad[0] + pad[1]))
    for i in range(h):
        for j in range(w):
            u[pad[0] + i * up, pad[0] + j * up] = x[i, j]
    fh, fw = f.shape
    out = np.zeros((u.shape[0] - fh + 1, u.shape[1] - fw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            acc = 0.0
            for a in range(fh):
                for b in range(fw):
                    acc += f[a, b] * u[i - a + fh - 1, j - b + fw - 1]
            out[i, j] = gain * acc
    return out


def nvidia_up_padding(kernel: int = 3, filt: int = 4, up: int = 2) -> tuple[int, int]:
    """conv2d_resample's padding for up>1: (p + (fw+up-1)//2, p + (fw-up)//2), p = kernel//2."""
    p = kernel // 2
    return p + (filt + up - 1) // 2, p + (filt - up) // 2


def modulate(weight, style, demodulate):
    """weight [O, I, k, k], style [I] -> per-sample weight [O, I, k, k]."""
    w = weight.to(D) * style.reshape(1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
    return w


def nvidia_modconv(x, weight, styles, demodulate=True, up=1):
    """Per-sample loop. up=1: cross-correlation, 'same' padding. up=2: general conv2d_resample path."""
    outs = []
    f = fir_filter()
    k = weight.shape[-1]
    for n in range(x.shape[0]):
        w = modulate(weight, styles[n], demodulate)
        xn = x[n:n + 1]
        if up == 1:
            outs.append(F.conv2d(xn, w, padding=k // 2))
        else:
            px0, px1 = nvidia_up_padding(k, f.shape[0], up)
            xu = upfirdn2d(xn, f, up=up, pad=(px0, px1, px0, px1), gain=up * up)
            outs.append(F.conv2d(xu, w.flip([2, 3])))  # flip_weight=False: a true convolution
    return torch.cat(outs)


def nvidia_mapping(sd, z, lr_mul=0.01):
    x = normalize_2nd_moment(z.to(D))
    i = 0
    while f"mapping.fc{i}.weight" in sd:
        x = equal_fc(x, sd[f"mapping.fc{i}.weight"], sd[f"mapping.fc{i}.bias"], lr_mul, act=True)
        i += 1
    return x


def truncate(w, w_avg, psi, cutoff=None):
    """w+ [N, L, D]: first `cutoff` codes -> w_avg + psi (w - w_avg)."""
    w = w.clone()
    cutoff = w.shape[1] if cutoff is None else cutoff
    w[:, :cutoff] = w_avg.to(D) + psi * (w[:, :cutoff] - w_avg.to(D))
    return w


def _nvidia_layer(sd, p, x, w, up, clamp, noise_mode):
    styles = equal_fc(w, sd[p + "affine.weight"], sd[p + "affine.bias"])
    x = nvidia_modconv(x, sd[p + "weight"], styles, True, up)
    if noise_mode == "const":
        x = x + sd[p + "noise_const"].to(D) * sd[p + "noise_strength"].to(D)
    return lrelu(x + sd[p + "bias"].to(D).reshape(1, -1, 1, 1), clamp=clamp)


def _nvidia_torgb(sd, p, x, w, clamp):
    styles = equal_fc(w, sd[p + "affine.weight"], sd[p + "affine.bias"]) / math.sqrt(x.shape[1])
    y = nvidia_modconv(x, sd[p + "weight"], styles, demodulate=False) + sd[p + "bias"].to(D).reshape(1, -1, 1, 1)
    return y.clamp(-clamp, clamp) if clamp is not None else y


def nvidia_synthesis(sd, ws, conv_clamp=None, noise_mode="const"):
    """ws [N, num_ws, w_dim] -> image [N, C, R, R], float64."""
    ws = ws.to(D)
    res, i = 4, 0
    x = sd["synthesis.b4.const"].to(D).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
    x = _nvidia_layer(sd, "synthesis.b4.conv1.", x, ws[:, 0], 1, conv_clamp, noise_mode)
    img = _nvidia_torgb(sd, "synthesis.b4.torgb.", x, ws[:, 1], conv_clamp)
    i = 1
    while f"synthesis.b{res * 2}.conv0.weight" in sd:
        res *= 2
        p = f"synthesis.b{res}."
        x = _nvidia_layer(sd, p + "conv0.", x, ws[:, i], 2, conv_clamp, noise_mode)
        x = _nvidia_layer(sd, p + "conv1.", x, ws[:, i + 1], 1, conv_clamp, noise_mode)
        img = upfirdn2d(img, fir_filter(), up=2, pad=(2, 1, 2, 1), gain=4) + _nvidia_torgb(sd, p + "torgb.", x,
                                                                                           ws[:, i + 2], conv_clamp)
        i += 2
    return img


# ---- rosinality layout -------------------------------------------------------------------------

def _rosi_modconv(sd, p, x, style, demodulate, upsample):
    weight = sd[p + "weight"].to(D)[0]  # [O, I, k, k]
    scale = 1.0 / math.sqrt(weight.shape[1] * weight.shape[2] * weight.shape[3])
    s = equal_fc(style, sd[p + "modulation.weight"], sd[p + "modulation.bias"])
    outs = []
    for n in range(x.shape[0]):
        w = modulate(weight * scale, s[n], demodulate)
        xn = x[n:n + 1]
        if upsample:
            y = F.conv_transpose2d(xn, w.transpose(0, 1), stride=2)
            kernel = sd[p + "blur.kernel"].to(D)
            y = upfirdn2d(y, kernel, up=1, pad=(1, 1, 1, 1))
        else:
            y = F.conv2d(xn, w, padding=w.shape[-1] // 2)
        outs.append(y)
    return torch.cat(outs)


def _rosi_styled(sd, p, x, style, noise, upsample):
    y = _rosi_modconv(sd, p + "conv.", x, style, True, upsample)
    if noise is not None:
        y = y + sd[p + "noise.weight"].to(D) * noise.to(D)
    return lrelu(y + sd[p + "activate.bias"].to(D).reshape(1, -1, 1, 1))


def _rosi_torgb(sd, p, x, style, skip):
    y = _rosi_modconv(sd, p + "conv.", x, style, False, False) + sd[p + "bias"].to(D)
    if skip is not None:
        y = y + upfirdn2d(skip, sd[p + "upsample.kernel"].to(D), up=2, pad=(2, 1, 2, 1))
    return y


def rosinality_mapping(sd, z, lr_mul=0.01):
    x = normalize_2nd_moment(z.to(D))
    i = 1
    while f"style.{i}.weight" in sd:
        x = equal_fc(x, sd[f"style.{i}.weight"], sd[f"style.{i}.bias"], lr_mul, act=True)
        i += 1
    return x


def rosinality_synthesis(sd, latent, use_noise_buffers=True):
    """latent [N, n_latent, D] -> image; noise = the stored noises.noise_i buffers (randomize_noise=False)."""
    latent = latent.to(D)
    noise = (lambda i: sd[f"noises.noise_{i}"]) if use_noise_buffers else (lambda i: None)
    x = sd["input.input"].to(D).repeat(latent.shape[0], 1, 1, 1)
    x = _rosi_styled(sd, "conv1.", x, latent[:, 0], noise(0), False)
    skip = _rosi_torgb(sd, "to_rgb1.", x, latent[:, 1], None)
    i, k = 1, 0
    while f"to_rgbs.{k}.conv.weight" in sd:
        x = _rosi_styled(sd, f"convs.{2 * k}.", x, latent[:, i], noise(2 * k + 1), True)
        x = _rosi_styled(sd, f"convs.{2 * k + 1}.", x, latent[:, i + 1], noise(2 * k + 2), False)
        skip = _rosi_torgb(sd, f"to_rgbs.{k}.", x, latent[:, i + 2], skip)
        i += 2
        k += 1
    return skip
