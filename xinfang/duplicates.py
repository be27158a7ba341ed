"""Near-duplicate letters: MinHash over word 3-shingles, LSH banding, clusters, repeat submitters."""

from __future__ import annotations

import io
import unicodedata
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from xinfang.chinese.segment import words
from xinfang.text import normalise

_PRIME = np.uint64(4294967311)  # smallest prime above 2**32: (a*x + b) % p fits uint64 for 32-bit a, x, b
_MAX32 = np.uint64(0xFFFFFFFF)
EMPTY = np.uint32(0xFFFFFFFF)
_CHUNK = 4096  # shingles hashed at a time: bounds memory to num_perm * 4096 * 8 bytes
_FORMAT = 1


def _keep(word: str) -> bool:
    return any(c.isalnum() for c in word)


def shingle_words(text: str) -> list[str]:
    """The words MinHash sees: jieba words of the NFKC-normalised, lower-cased letter, punctuation dropped."""
    norm = unicodedata.normalize("NFKC", normalise(text)).lower()
    return [w for w in words(norm) if _keep(w)]


def shingle_hashes(text: str, n: int = 3) -> np.ndarray:
    """Distinct 32-bit hashes of the word n-grams of a letter (one shingle when it has fewer words)."""
    toks = shingle_words(text)
    if not toks:
        return np.zeros(0, dtype=np.uint64)
    ids = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in toks), dtype=np.uint64, count=len(toks))
    k = min(n, len(ids))
    mixers = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9][:k], dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.zeros(len(ids) - k + 1, dtype=np.uint64)
        for i in range(k):
            h = h * np.uint64(31) + ids[i:len(ids) - k + 1 + i] * mixers[i]
        h ^= h >> np.uint64(29)
    return np.unique((h ^ (h >> np.uint64(32))) & _MAX32)


def jaccard(a: str, b: str, n: int = 3) -> float:
    """Exact Jaccard similarity of two letters' shingle sets (for checks; MinHash estimates it)."""
    sa, sb = set(shingle_hashes(a, n).tolist()), set(shingle_hashes(b, n).tolist())
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


class MinHasher:
    """Seeded MinHash: `num_perm` universal hashes (a*x + b) mod p over 32-bit shingle hashes."""

    def __init__(self, num_perm: int = 128, seed: int = 20240601, ngram: int = 3):
        if num_perm <= 0:
            raise ValueError("num_perm must be positive")
        rng = np.random.default_rng(seed)
        self.num_perm, self.seed, self.ngram = num_perm, seed, ngram
        self._a = rng.integers(1, 1 << 32, size=(num_perm, 1), dtype=np.uint64)
        self._b = rng.integers(0, 1 << 32, size=(num_perm, 1), dtype=np.uint64)

    def signature_of_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """MinHash signature (uint32, num_perm) of shingle hashes; all EMPTY for no shingles."""
        sig = np.full(self.num_perm, EMPTY, dtype=np.uint32)
        for i in range(0, len(hashes), _CHUNK):
            x = hashes[None, i:i + _CHUNK]
            values = np.minimum((self._a * x + self._b) % _PRIME, _MAX32).min(axis=1).astype(np.uint32)
            np.minimum(sig, values, out=sig)
        return sig

    def signature(self, text: str) -> np.ndarray:
        """MinHash signature of a letter's word shingles."""
        return self.signature_of_hashes(shingle_hashes(text, self.ngram))


def is_empty(sig: np.ndarray) -> bool:
    """True for the signature of a letter without words (it matches nothing)."""
    return bool(np.all(sig == EMPTY))


def estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Jaccard estimate of two signatures: the share of equal MinHash values (0 if either is empty)."""
    if is_empty(sig_a) or is_empty(sig_b):
        return 0.0
    return float(np.mean(sig_a == sig_b))


def signature_to_bytes(sig: np.ndarray) -> bytes:
    """Little-endian uint32 bytes of a signature, for a results store."""
    return np.asarray(sig, dtype="<u4").tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    """Inverse of signature_to_bytes."""
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


class UnionFind:
    """Disjoint sets over 0..n-1 (path compression; the smaller index is a set's root)."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


class DuplicateIndex:
    """MinHash signatures of many letters with LSH band tables for fast near-duplicate search.

    Holds only ids, optional submitter ids, uint32 signatures and one sorted table of band keys
    (num_perm * 4 + bands * 12 bytes a letter: ~0.9 KB, about 90 MB for 100k letters), never texts.
    With 32 bands of 4 rows a pair at Jaccard 0.8 becomes a candidate with probability ~1.0,
    at 0.5 ~0.87, at 0.2 ~0.05; candidates are then checked on the full signature.
    """

    def __init__(self, num_perm: int = 128, bands: int = 32, seed: int = 20240601, ngram: int = 3):
        if num_perm % bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        self.hasher = MinHasher(num_perm, seed, ngram)
        self.bands, self.rows = bands, num_perm // bands
        rng = np.random.default_rng(seed + 1)
        self._band_mix = rng.integers(1, 1 << 63, size=self.rows, dtype=np.uint64) | np.uint64(1)
        self._sigs = np.zeros((1024, num_perm), dtype=np.uint32)
        self._ids: list[str] = []
        self._row_of: dict[str, int] = {}
        self._submitters: list[str | None] = []
        self._sorted_n = 0  # rows [0, _sorted_n) are in the sorted key table; the rest wait in a buffer
        self._keys = np.zeros(0, dtype=np.uint64)  # band keys of all sorted rows, sorted
        self._key_rows = np.zeros(0, dtype=np.int32)  # the row of each key
        self._pending = np.zeros((64, bands), dtype=np.uint64)  # band keys of buffered rows

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, letter_id: object) -> bool:
        return letter_id in self._row_of

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def signature(self, text: str) -> np.ndarray:
        return self.hasher.signature(text)

    def _band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """(n, bands) uint64 keys: the band number in the top 6 bits, a hash of the band's rows below,
        so the keys of all bands sort in one array."""
        x = sigs.reshape(len(sigs), self.bands, self.rows).astype(np.uint64)
        with np.errstate(over="ignore"):
            h = (x * self._band_mix).sum(axis=2, dtype=np.uint64)
            h ^= h >> np.uint64(31)
        return (np.arange(self.bands, dtype=np.uint64) << np.uint64(58)) | (h >> np.uint64(6))

    def band_keys(self, sig: np.ndarray) -> np.ndarray:
        """The (bands,) LSH keys of one signature (what a database-held index stores per letter)."""
        return self._band_keys(np.asarray(sig, dtype=np.uint32)[None, :])[0]

    # --- adding ---------------------------------------------------------------------------------------

    def add(self, letter_id: str, text: str, submitter: str | None = None) -> np.ndarray:
        """Index a letter; returns its signature (store it with signature_to_bytes to skip re-hashing)."""
        sig = self.signature(text)
        self.add_signature(letter_id, sig, submitter)
        return sig

    def add_signature(self, letter_id: str, sig: np.ndarray, submitter: str | None = None) -> None:
        """Index a precomputed signature (from this index's parameters); a known id raises ValueError."""
        if letter_id in self._row_of:
            raise ValueError(f"letter {letter_id!r} is already indexed")
        sig = np.asarray(sig, dtype=np.uint32)
        if sig.shape != (self.hasher.num_perm,):
            raise ValueError(f"signature has shape {sig.shape}, expected ({self.hasher.num_perm},)")
        n = len(self._ids)
        if n == len(self._sigs):
            self._sigs = np.concatenate([self._sigs, np.zeros_like(self._sigs)])
        self._sigs[n] = sig
        self._row_of[letter_id] = n
        self._ids.append(letter_id)
        self._submitters.append(submitter)
        waiting = n - self._sorted_n
        if waiting == len(self._pending):
            self._pending = np.concatenate([self._pending, np.zeros_like(self._pending)])
        self._pending[waiting] = self._band_keys(sig[None, :])[0] if not is_empty(sig) else 0
        if waiting + 1 > max(1024, self._sorted_n // 8):
            self._rebuild()

    def _rebuild(self) -> None:
        n = len(self._ids)
        sigs = self._sigs[:n]
        live = np.flatnonzero(~np.all(sigs == EMPTY, axis=1)).astype(np.int32)
        keys = self._band_keys(sigs[live]).ravel()
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._key_rows = np.repeat(live, self.bands)[order]
        self._sorted_n = n
        self._pending = np.zeros((64, self.bands), dtype=np.uint64)

    # --- searching ------------------------------------------------------------------------------------

    def _candidates(self, sig: np.ndarray) -> np.ndarray:
        q = self._band_keys(sig[None, :])[0]
        lo, hi = np.searchsorted(self._keys, q, "left"), np.searchsorted(self._keys, q, "right")
        found = [self._key_rows[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True) if b > a]
        waiting = len(self._ids) - self._sorted_n
        if waiting:
            hit = np.any(self._pending[:waiting] == q, axis=1)
            found.append(np.flatnonzero(hit).astype(np.int32) + self._sorted_n)
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int32)

    def query_signature(self, sig: np.ndarray, threshold: float = 0.8,
                        exclude: str | None = None) -> list[tuple[str, float]]:
        """Indexed letters whose estimated Jaccard with `sig` is at least threshold, best first."""
        sig = np.asarray(sig, dtype=np.uint32)
        if is_empty(sig) or not self._ids:
            return []
        rows = self._candidates(sig)
        if not len(rows):
            return []
        est = (self._sigs[rows] == sig).mean(axis=1)
        keep = est >= threshold
        hits = sorted(zip(est[keep].tolist(), rows[keep].tolist(), strict=True), key=lambda x: (-x[0], x[1]))
        return [(self._ids[r], round(e, 4)) for e, r in hits if self._ids[r] != exclude]

    def query(self, text: str, threshold: float = 0.8, exclude: str | None = None) -> list[tuple[str, float]]:
        """Indexed near-duplicates of a text: [(letter_id, jaccard_estimate)], best first."""
        return self.query_signature(self.signature(text), threshold, exclude)

    def near_duplicates_of(self, letter_id: str, threshold: float = 0.8) -> list[tuple[str, float]]:
        """Near-duplicates of an indexed letter, itself left out."""
        return self.query_signature(self._sigs[self._row_of[letter_id]], threshold, exclude=letter_id)

    def signature_of(self, letter_id: str) -> np.ndarray:
        return self._sigs[self._row_of[letter_id]].copy()

    def submitter_of(self, letter_id: str) -> str | None:
        return self._submitters[self._row_of[letter_id]]

    def _candidate_pairs(self, big_bucket: int) -> np.ndarray:
        keys, rows = self._keys, self._key_rows
        if len(keys) < 2:
            return np.zeros((0, 2), dtype=np.int64)
        bounds = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(keys)]])
        shared = ends - starts > 1
        pairs = []
        for s, e in zip(starts[shared].tolist(), ends[shared].tolist(), strict=True):
            members = np.sort(rows[s:e]).astype(np.int64)
            if len(members) <= big_bucket:
                i, j = np.triu_indices(len(members), k=1)
                pairs.append(np.stack([members[i], members[j]], axis=1))
            else:  # a campaign of hundreds of copies: link each to the first and to its neighbour
                pairs.append(np.stack([np.full(len(members) - 1, members[0]), members[1:]], axis=1))
                pairs.append(np.stack([members[:-1], members[1:]], axis=1))
        if not pairs:
            return np.zeros((0, 2), dtype=np.int64)
        return np.unique(np.concatenate(pairs), axis=0)

    def clusters(self, threshold: float = 0.8, min_size: int = 2, big_bucket: int = 64) -> list[list[str]]:
        """Groups of near-duplicate letters (single linkage over LSH candidates whose estimate passes),
        largest first; within a group, ids in the order they were added."""
        if len(self._ids) > self._sorted_n:
            self._rebuild()
        pairs = self._candidate_pairs(big_bucket)
        uf = UnionFind(len(self._ids))
        for k in range(0, len(pairs), 65536):
            chunk = pairs[k:k + 65536]
            est = (self._sigs[chunk[:, 0]] == self._sigs[chunk[:, 1]]).mean(axis=1)
            for i, j in chunk[est >= threshold].tolist():
                uf.union(i, j)
        groups: dict[int, list[int]] = {}
        for row in range(len(self._ids)):
            groups.setdefault(uf.find(row), []).append(row)
        out = [[self._ids[r] for r in g] for g in groups.values() if len(g) >= min_size]
        return sorted(out, key=lambda g: (-len(g), self._row_of[g[0]]))

    # --- persistence ----------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The whole index (parameters, ids, submitters, signatures) as an .npz blob."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf, format=np.array(_FORMAT), num_perm=np.array(self.hasher.num_perm),
            bands=np.array(self.bands),
            seed=np.array(self.hasher.seed), ngram=np.array(self.hasher.ngram),
            ids=np.array(self._ids, dtype=str), sigs=self._sigs[:len(self._ids)],
            submitters=np.array(["" if s is None else s for s in self._submitters], dtype=str),
            has_submitter=np.array([s is not None for s in self._submitters], dtype=bool))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> DuplicateIndex:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if int(z["format"]) != _FORMAT:
                raise ValueError(f"unknown duplicate-index format {int(z['format'])}")
            index = cls(int(z["num_perm"]), int(z["bands"]), int(z["seed"]), int(z["ngram"]))
            for letter_id, sig, sub, has in zip(z["ids"].tolist(), z["sigs"], z["submitters"].tolist(),
                                                z["has_submitter"].tolist(), strict=True):
                index.add_signature(letter_id, sig, sub if has else None)
        return index

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> DuplicateIndex:
        return cls.from_bytes(Path(path).read_bytes())


def _field(record: Mapping[str, Any] | Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


def repeats_by_submitter(records: Iterable[Mapping[str, Any] | Any], min_count: int = 2, id_field: str = "id",
                         submitter_field: str = "submitter") -> dict[str, list[str]]:
    """Letter ids per submitter who sent at least min_count letters, most prolific first, ids in input order.

    Records are mappings or objects with an id and a submitter field; a missing or empty submitter is skipped.
    """
    series: dict[str, list[str]] = {}
    for rec in records:
        sub = _field(rec, submitter_field)
        if sub is None or str(sub).strip() == "":
            continue
        series.setdefault(str(sub), []).append(str(_field(rec, id_field)))
    kept = {s: ids for s, ids in series.items() if len(ids) >= min_count}
    return dict(sorted(kept.items(), key=lambda kv: -len(kv[1])))
