"""Python reference behaviour of exitflow's RTL max-pool, written independently of FINN's Pool.

Two levels, each checked against something else:
- `maxpool_nhwc`: the layer (windows of an NHWC image, floor mode, no padding), direct loops;
- `depthwise_beats` -> `pool_beats` -> `beats_to_normal`: the stream the RTL sees and emits.
  FINN's depthwise ConvolutionInputGenerator (SIMD = PE) sends, per output pixel and channel
  fold, the KK window elements of PE channels as KK consecutive beats; the RTL emits the
  lane-wise maximum of each group of KK beats. The op's python execution runs this beat model,
  so it is compared with FINN's own Pool execution and with the RTL.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "beats_to_normal",
    "depthwise_beats",
    "maxpool_nhwc",
    "pack_lanes",
    "pool_beats",
    "unpack_lanes",
]


def maxpool_nhwc(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Max-pool of an NHWC batch over kernel windows at the given stride (no padding, floor)."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j, :] = x[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :].max(axis=(1, 2))
    return out


def depthwise_beats(im2col: np.ndarray, kk: int, channels: int, pe: int) -> np.ndarray:
    """Beats (N, PE) of a depthwise SWG from its normal output (..., KK * C), im2col order."""
    if channels % pe:
        raise ValueError(f"PE={pe} must divide the {channels} channels")
    pix = int(np.prod(im2col.shape[:-1]))
    win = im2col.reshape(pix, kk, channels // pe, pe)  # im2col: window element outer, channel inner
    return win.transpose(0, 2, 1, 3).reshape(-1, pe)  # stream: channel fold outer, window inner


def pool_beats(beats: np.ndarray, kk: int) -> np.ndarray:
    """The RTL's behaviour: lane-wise maximum of every group of `kk` consecutive beats."""
    if len(beats) % kk:
        raise ValueError(f"{len(beats)} beats are not whole windows of {kk}")
    out = np.empty((len(beats) // kk, beats.shape[1]), dtype=beats.dtype)
    for g in range(len(out)):
        acc = beats[g * kk].copy()
        for b in beats[g * kk + 1 : (g + 1) * kk]:
            acc = np.where(b > acc, b, acc)
        out[g] = acc
    return out


def beats_to_normal(beats: np.ndarray, out_dims: tuple[int, ...], channels: int) -> np.ndarray:
    """Output beats (pixel-major, channel fold, PE lanes) as the normal tensor (1, *dims, C)."""
    return beats.reshape(1, *out_dims, channels)


def pack_lanes(beats: np.ndarray, bits: int) -> list[int]:
    """Stream words of (N, PE) integer beats: lane i in bits [i*bits, (i+1)*bits) (FINN's order)."""
    mask = (1 << bits) - 1
    words = []
    for beat in np.asarray(beats, dtype=np.int64):
        word = 0
        for i, v in enumerate(beat.tolist()):
            word |= (int(v) & mask) << (i * bits)
        words.append(word)
    return words


def unpack_lanes(words: list[int], pe: int, bits: int, signed: bool) -> np.ndarray:
    """(N, PE) integers of stream words (inverse of pack_lanes)."""
    mask = (1 << bits) - 1
    out = np.empty((len(words), pe), dtype=np.int64)
    for n, word in enumerate(words):
        for i in range(pe):
            v = (int(word) >> (i * bits)) & mask
            out[n, i] = v - (1 << bits) if signed and v >> (bits - 1) else v
    return out
