"""Fixed-point softmax confidence and entropy from integer logits, by lookup tables (numpy only).

These are the integer statistics behind the `max_softmax` and `entropy` exit policies
(`quant.policies`). Hardware decision units hold the tables this module generates as ROM
constants, so they reproduce the statistics bit for bit. Notation for one exit of one sample:
integer logits x_j (j = 0..C-1), the exit's logit scale s (real logit = x_j * s), F fraction bits,
r the table shift.

- d_j = max_i x_i - x_j >= 0 (integer), table index i_j = d_j >> r (arithmetic shift).
- Exp table:  EXP[i] = floor(2^F * exp(-s * i * 2^r) + 1/2); indices past the table read 0.
- Softmax sum: A = sum_j EXP[i_j]  (= 2^F * sum_j exp(-s d_j), exact for r = 0 up to rounding).
  max softmax = 2^F / A, so "max softmax >= t" is decided as "A <= T" with an integer T.
- Entropy table: XEXP[i] = floor(2^F * z * exp(-z) + 1/2) with z = s * i * 2^r; B = sum_j XEXP[i_j].
  H = ln(A / 2^F) + B / A (nats). ln is taken from the leading one of A plus a 2^M-entry mantissa
  table: k = bit_length(A) - 1 (>= F), m = (A >> (k - M)) - 2^M,
  LN[m] = floor(2^F * ln(1 + m / 2^M) + 1/2), LN2 = floor(2^F * ln 2 + 1/2).
  H_fx = LN2 * (k - F) + LN[m] + floor(2^F * B / A)   (integer, units of 2^-F nats)
  and "H_fx <= T" is equivalent to "2^F * B + (LN2 * (k - F) + LN[m]) * A <= T * A": a
  multiply and a compare, no divider.

Tables are trimmed after their last non-zero entry; r is the smallest shift that keeps the longer
(entropy) table within `max_lut` entries (r = 0 for usual logit scales). Rounding is half-up
(floor(x + 1/2)) everywhere, never numpy's half-to-even. Accuracy against float64 (r = 0):
|A - 2^F * sum exp| <= C/2, so the integer max-softmax rule agrees with the float one except when
|sum_j exp(-s d_j) - 1/t| <= (C/2 + 1) / 2^F; |H_fx / 2^F - H| <= 2^-M + C 2^-F (3 + ln C).
"""

from __future__ import annotations

import functools
import math

import numpy as np

DEFAULT_FRAC_BITS = 16
DEFAULT_LOG_BITS = 10
DEFAULT_MAX_LUT = 4096


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def _trim(table: np.ndarray) -> np.ndarray:
    nonzero = np.flatnonzero(table)
    return table[: nonzero[-1] + 1] if nonzero.size else table[:1]


def _check(scale: float, frac_bits: int, shift: int) -> None:
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"logit_scale must be a positive finite number, got {scale!r}")
    if not 1 <= frac_bits <= 30:
        raise ValueError(f"frac_bits must be in 1..30, got {frac_bits}")
    if shift < 0:
        raise ValueError(f"lut_shift must be >= 0, got {shift}")


def _untrimmed_size(scale: float, frac_bits: int, shift: int, kind: str) -> int:
    """Number of indices whose table entry can be non-zero (an upper bound)."""
    # exp(-z) rounds to 0 once z > (F+1) ln 2; z exp(-z) once z > (F+1) ln 2 + ln z, bounded here.
    bound = (frac_bits + 1) * math.log(2)
    if kind == "xexp":
        bound += 2 * math.log(bound + 1) + 1
    return int(bound / (scale * 2**shift)) + 2


def _z(scale: float, frac_bits: int, shift: int, kind: str) -> np.ndarray:
    """Real differences z = s * i * 2^r covering every index whose table entry can be non-zero."""
    size = _untrimmed_size(scale, frac_bits, shift, kind)
    return np.arange(size, dtype=np.float64) * (scale * 2**shift)


@functools.lru_cache(maxsize=256)
def _exp_lut(scale: float, frac_bits: int, shift: int) -> np.ndarray:
    _check(scale, frac_bits, shift)
    z = _z(scale, frac_bits, shift, "exp")
    table = _trim(_round_half_up(2.0**frac_bits * np.exp(-z)))
    table.flags.writeable = False
    return table


@functools.lru_cache(maxsize=256)
def _xexp_lut(scale: float, frac_bits: int, shift: int) -> np.ndarray:
    _check(scale, frac_bits, shift)
    z = _z(scale, frac_bits, shift, "xexp")
    table = _trim(_round_half_up(2.0**frac_bits * z * np.exp(-z)))
    table.flags.writeable = False
    return table


def exp_lut(scale: float, frac_bits: int = DEFAULT_FRAC_BITS, shift: int = 0) -> np.ndarray:
    """EXP[i] = round(2^F exp(-s i 2^r)), trimmed after the last non-zero entry (read-only)."""
    return _exp_lut(float(scale), int(frac_bits), int(shift))


def entropy_luts(
    scale: float, frac_bits: int = DEFAULT_FRAC_BITS, shift: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(EXP, XEXP) zero-padded to a common length, as an entropy unit holds them."""
    e = exp_lut(scale, frac_bits, shift)
    x = _xexp_lut(float(scale), int(frac_bits), int(shift))
    n = max(e.size, x.size)
    return np.pad(e, (0, n - e.size)), np.pad(x, (0, n - x.size))


@functools.lru_cache(maxsize=16)
def log_lut(frac_bits: int = DEFAULT_FRAC_BITS, log_bits: int = DEFAULT_LOG_BITS) -> np.ndarray:
    """LN[m] = round(2^F ln(1 + m / 2^M)) for the M-bit mantissa m below A's leading one."""
    if not 1 <= log_bits <= frac_bits:
        raise ValueError(f"log_bits must be in 1..frac_bits ({frac_bits}), got {log_bits}")
    m = np.arange(2**log_bits, dtype=np.float64)
    table = _round_half_up(2.0**frac_bits * np.log1p(m / 2**log_bits))
    table.flags.writeable = False
    return table


def ln2_fixed(frac_bits: int = DEFAULT_FRAC_BITS) -> int:
    """round(2^F ln 2), the per-octave step of the fixed-point logarithm."""
    return math.floor(2.0**frac_bits * math.log(2) + 0.5)


def choose_shift(
    scale: float, frac_bits: int = DEFAULT_FRAC_BITS, max_lut: int = DEFAULT_MAX_LUT
) -> int:
    """Smallest table shift r keeping both tables within max_lut entries."""
    _check(float(scale), frac_bits, 0)
    if max_lut < 2:
        raise ValueError(f"max_lut must be >= 2, got {max_lut}")
    # Start just below the shift the untrimmed table length predicts, so that tiny scales never
    # build a huge table; trimming can only make a table shorter.
    untrimmed = _untrimmed_size(float(scale), frac_bits, 0, "xexp")
    start = max(0, math.ceil(math.log2(max(untrimmed / max_lut, 1.0))) - 1)
    for shift in range(start, 63):
        if entropy_luts(scale, frac_bits, shift)[0].size <= max_lut:
            return shift
    raise ValueError(f"no table shift fits logit_scale {scale} into {max_lut} entries")


def _lookup(logits_e: np.ndarray, table: np.ndarray, shift: int) -> np.ndarray:
    """table[(max - x_j) >> r] per logit, 0 past the table's end."""
    x = np.asarray(logits_e, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"logits of one exit must be [N, C] with C >= 1, got {x.shape}")
    if x.shape[0] == 0:
        return np.zeros(x.shape, dtype=np.int64)
    idx = (x.max(axis=1, keepdims=True) - x) >> shift
    padded = np.append(table, 0)
    return padded[np.minimum(idx, table.size)]


def softmax_sum(
    logits_e: np.ndarray, scale: float, frac_bits: int = DEFAULT_FRAC_BITS, shift: int = 0
) -> np.ndarray:
    """A = sum_j EXP[(max - x_j) >> r] per sample: int64 [N], always >= 2^F."""
    return _lookup(logits_e, exp_lut(scale, frac_bits, shift), shift).sum(axis=1)


def entropy_fixed(
    logits_e: np.ndarray,
    scale: float,
    frac_bits: int = DEFAULT_FRAC_BITS,
    shift: int = 0,
    log_bits: int = DEFAULT_LOG_BITS,
) -> np.ndarray:
    """H_fx per sample (int64 [N], units of 2^-F nats), as defined in the module docstring."""
    exp_t, xexp_t = entropy_luts(scale, frac_bits, shift)
    a = _lookup(logits_e, exp_t, shift).sum(axis=1)
    b = _lookup(logits_e, xexp_t, shift).sum(axis=1)
    if a.size == 0:
        return a
    # A < 2^53 for any realistic C, so the float exponent is the exact bit length.
    k = np.frexp(a.astype(np.float64))[1].astype(np.int64) - 1
    m = (a >> (k - log_bits)) - (1 << log_bits)
    log_a = ln2_fixed(frac_bits) * (k - frac_bits) + log_lut(frac_bits, log_bits)[m]
    return log_a + (b << frac_bits) // a


def lut_params(
    logit_scale: np.ndarray | list[float],
    frac_bits: int = DEFAULT_FRAC_BITS,
    log_bits: int = DEFAULT_LOG_BITS,
    max_lut: int = DEFAULT_MAX_LUT,
) -> dict:
    """Policy params of the table-based policies for per-exit logit scales (JSON-ready)."""
    scales = [float(s) for s in np.asarray(logit_scale, dtype=np.float64).ravel()]
    return {
        "logit_scale": scales,
        "frac_bits": int(frac_bits),
        "log_bits": int(log_bits),
        "lut_shift": [choose_shift(s, frac_bits, max_lut) for s in scales],
    }


def float_softmax_sum(logits_e: np.ndarray, scale: float) -> np.ndarray:
    """Reference: sum_j exp(-s (max - x_j)) in float64 (= 1 / max softmax)."""
    x = np.asarray(logits_e, dtype=np.float64) * scale
    return np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1)


def float_entropy(logits_e: np.ndarray, scale: float) -> np.ndarray:
    """Reference: softmax entropy in nats, float64."""
    x = np.asarray(logits_e, dtype=np.float64) * scale
    z = x.max(axis=1, keepdims=True) - x
    w = np.exp(-z)
    total = w.sum(axis=1)
    return np.log(total) + (w * z).sum(axis=1) / total
