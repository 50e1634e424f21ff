"""Input packing and output-record decoding, as the manifest describes them (numpy 1.x and 2.x).

Images go to the accelerator as FINN packs a stream: channels-last (NHWC) elements,
`elements_per_word` to a word, element 0 in the least significant bits, each word padded to
`word_bytes` little-endian bytes (one DMA beat). Records come back as `record.word_bytes`-byte
little-endian words whose fields, least significant first, are listed in `record.fields`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DriverError

__all__ = ["decode_records", "encode_records", "pack_images"]


def pack_images(images: np.ndarray, inp: dict[str, Any]) -> np.ndarray:
    """uint8 images [N, *shape] -> the input byte stream, uint8 [N * words_per_frame, word_bytes]."""
    x = np.asarray(images)
    shape = tuple(int(d) for d in inp["shape"])
    if x.ndim == len(shape) and x.shape == shape:
        x = x[None]
    if tuple(x.shape[1:]) != shape:
        if len(shape) == 3 and shape[0] == 1 and tuple(x.shape[1:]) == shape[1:]:
            x = x[:, None]  # grey images given as [N, H, W]
        else:
            raise DriverError(
                f"images of shape {tuple(x.shape[1:])}: this design takes {list(shape)} "
                f"({inp['dtype']}) per image"
            )
    if x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255 or not np.issubdtype(x.dtype, np.integer)):
            raise DriverError(f"images must be uint8 (0..255), got {x.dtype}")
        x = x.astype(np.uint8)
    n = x.shape[0]
    if inp.get("stream_layout") == "NHWC" and x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    bits, per, wbytes = (
        int(inp["element_bits"]),
        int(inp["elements_per_word"]),
        int(inp["word_bytes"]),
    )
    flat = np.ascontiguousarray(x).reshape(n * int(inp["words_per_frame"]), per)
    if bits == 8:
        words = np.zeros((flat.shape[0], wbytes), np.uint8)
        words[:, :per] = flat
        return words
    acc = np.zeros((flat.shape[0], wbytes * 8), np.uint8)  # bit planes, LSB first
    vals = flat.astype(np.int64) & ((1 << bits) - 1)
    for k in range(per):
        for b in range(bits):
            acc[:, k * bits + b] = (vals[:, k] >> b) & 1
    return np.packbits(acc, axis=1, bitorder="little")


def _field_slices(fields: list[dict[str, Any]]) -> list[tuple]:
    out, lo = [], 0
    for f in fields:
        out.append((f["name"], lo, int(f["bits"]), bool(f.get("signed", False))))
        lo += int(f["bits"])
    return out


def decode_records(raw: np.ndarray, record: dict[str, Any]) -> dict[str, np.ndarray]:
    """uint8 [M, word_bytes] record words -> frame_id, exit, forced, class (int64 [M]) and
    logits (int64 [M, C], when the records carry them)."""
    raw = np.asarray(raw, np.uint8).reshape(-1, int(record["word_bytes"]))
    words = [int.from_bytes(r.tobytes(), "little") for r in raw]
    cols: dict[str, list[int]] = {}
    for name, lo, bits, signed in _field_slices(record["fields"]):
        mask = (1 << bits) - 1
        vals = [(w >> lo) & mask for w in words]
        if signed:
            vals = [v - (1 << bits) if v >> (bits - 1) else v for v in vals]
        cols[name] = vals
    out = {k: np.asarray(cols[k], np.int64) for k in ("frame_id", "exit", "forced", "class")}
    logit = [k for k in cols if k.startswith("logit")]
    if logit:
        out["logits"] = np.asarray([cols[k] for k in logit], np.int64).T.reshape(len(words), -1)
    return out


def encode_records(fields: dict[str, Any], record: dict[str, Any]) -> np.ndarray:
    """Inverse of decode_records (for backends that produce results rather than words)."""
    n = len(fields["frame_id"])
    cols = dict(fields)
    if "logits" in cols and cols["logits"] is not None:
        lg = np.asarray(cols.pop("logits"), np.int64)
        for c in range(lg.shape[1]):
            cols[f"logit{c}"] = lg[:, c]
    words = [0] * n
    for name, lo, bits, _ in _field_slices(record["fields"]):
        vals = np.asarray(cols.get(name, np.zeros(n, np.int64)), np.int64).tolist()
        mask = (1 << bits) - 1
        for i, v in enumerate(vals):
            words[i] |= (int(v) & mask) << lo
    wb = int(record["word_bytes"])
    buf = b"".join(w.to_bytes(wb, "little") for w in words)
    return np.frombuffer(buf, np.uint8).reshape(n, wb).copy()
