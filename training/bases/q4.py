"""Q4_0 4-bit blocks (fp16 scale + 16 nibble bytes per 32 weights) to and from float32, vectorised."""

from __future__ import annotations

import numpy as np

QK = 32
BLOCK_BYTES = 2 + QK // 2  # fp16 scale, then 16 bytes: low nibble j -> weight j, high nibble -> weight j+16
BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
assert BLOCK_DTYPE.itemsize == BLOCK_BYTES


def q4_nbytes(nout: int, nin: int) -> int:
    if nin % QK:
        raise ValueError(f"Q4_0 rows need a multiple of {QK} weights, got {nin}")
    return nout * (nin // QK) * BLOCK_BYTES


def dequantize_q4_0(buf: bytes | memoryview | np.ndarray, nout: int, nin: int,
                    rows_per_chunk: int = 16384) -> np.ndarray:
    """float32 [nout, nin] from row-major Q4_0 blocks: value = (nibble - 8) * fp16 scale."""
    nb = nin // QK
    need = q4_nbytes(nout, nin)
    raw = np.frombuffer(buf, dtype=np.uint8, count=need) if not isinstance(buf, np.ndarray) else buf
    if raw.size < need:
        raise ValueError(f"Q4_0 tensor [{nout}, {nin}] needs {need} bytes, got {raw.size}")
    blocks = raw[:need].view(BLOCK_DTYPE).reshape(nout, nb)
    out = np.empty((nout, nb, QK), dtype=np.float32)
    for a in range(0, nout, rows_per_chunk):  # bounded temporaries for the 250k-row embedding
        b = min(a + rows_per_chunk, nout)
        qs = blocks["qs"][a:b]
        scale = blocks["d"][a:b].astype(np.float32)[..., None]  # IEEE fp16 -> fp32, subnormals included
        out[a:b, :, : QK // 2] = ((qs & 0x0F).astype(np.int8) - 8) * scale
        out[a:b, :, QK // 2:] = ((qs >> 4).astype(np.int8) - 8) * scale
    return out.reshape(nout, nin)


def quantize_q4_0(w: np.ndarray) -> bytes:
    """Q4_0 bytes of float [nout, nin] (ggml rule: scale = signed absmax / -8), used to write test models."""
    w = np.asarray(w, dtype=np.float32)
    nout, nin = w.shape
    q4_nbytes(nout, nin)
    blk = w.reshape(nout, nin // QK, QK)
    idx = np.abs(blk).argmax(axis=-1)
    amax = np.take_along_axis(blk, idx[..., None], axis=-1)[..., 0]
    d = (amax / -8.0).astype(np.float16)
    d32 = d.astype(np.float32)
    inv = np.divide(1.0, d32, out=np.zeros_like(d32), where=d32 != 0)
    q = np.clip(np.rint(blk * inv[..., None] + 8.0), 0, 15).astype(np.uint8)
    out = np.empty((nout, nin // QK), dtype=BLOCK_DTYPE)
    out["d"] = d
    out["qs"] = q[..., : QK // 2] | (q[..., QK // 2:] << 4)
    return out.tobytes()
