"""The near-duplicate index in the results store's database (LSH band keys in an indexed table), so that every
worker and machine sharing the database finds the near-duplicates of letters any of them scored."""

from __future__ import annotations

import numpy as np
from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    exists,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from xinfang.duplicates import DuplicateIndex, is_empty, signature_from_bytes, signature_to_bytes
from xinfang.near_duplicates import new_index
from xinfang.serving.orm import Base
from xinfang.serving.store import ScoredLetter


class IndexedLetter(Base):
    """A letter in the near-duplicate index: the first stored signature of its id wins; `seq` orders letters as
    they were indexed (ties between equally similar letters go to the earlier one)."""

    __tablename__ = "near_duplicate_letters"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[str] = mapped_column(String(128), unique=True)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    submitter_hash: Mapped[str | None] = mapped_column(String(64))


class BandKey(Base):
    """One LSH band key of an indexed letter. `bands` names the banding (sized from the threshold): a worker
    looks up only keys of its own banding; letters lacking them get them at its start-up."""

    __tablename__ = "near_duplicate_bands"

    bands: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, ForeignKey("near_duplicate_letters.seq"), primary_key=True)


def _signed(keys: np.ndarray) -> list[int]:
    """uint64 band keys as the signed 64-bit integers a BIGINT holds (the same bits)."""
    return keys.astype(np.uint64).view(np.int64).tolist()


class SharedIndex:
    """What xinfang.near_duplicates.NearDuplicates needs of an index, kept in the database: the policy stays
    there; this class only stores letters and fetches the candidates of a signature (letters sharing a band
    key), which it ranks with a DuplicateIndex of the same parameters, so answers equal the in-memory index's.

    Letters enter it in the same transaction as their results rows (`write`, from ResultsStore.add_many), so
    it never names a letter the store lacks. Used by the one scorer thread of a worker: `submitter_of`
    answers for the letters of the last query."""

    def __init__(self, engine: Engine, threshold: float = 0.8):
        self.engine = engine
        self._params = new_index(threshold)
        self.hasher, self.bands = self._params.hasher, self._params.bands
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        self._last: DuplicateIndex = self._params
        self._count = 0

    def _empty(self) -> DuplicateIndex:
        return DuplicateIndex(self.hasher.num_perm, self.bands, self.hasher.seed, self.hasher.ngram)

    def __len__(self) -> int:
        """Letters indexed when this worker started plus those it added (no query: /readyz reads it)."""
        return self._count

    def __contains__(self, letter_id: object) -> bool:
        with Session(self.engine) as session:
            return session.scalar(select(IndexedLetter.seq).where(IndexedLetter.letter_id == letter_id)) is not None

    def signature(self, text: str) -> np.ndarray:
        return self.hasher.signature(text)

    def query_signature(self, sig: np.ndarray, threshold: float = 0.8,
                        exclude: str | None = None) -> list[tuple[str, float]]:
        """Indexed letters whose estimated Jaccard with `sig` is at least threshold, best first."""
        sig = np.asarray(sig, dtype=np.uint32)
        found = self._empty()  # the candidates, in the order they were indexed
        self._last = found
        if is_empty(sig):
            return []
        keys = _signed(self._params.band_keys(sig))
        stmt = (select(IndexedLetter.letter_id, IndexedLetter.signature, IndexedLetter.submitter_hash)
                .where(IndexedLetter.seq.in_(select(BandKey.seq).where(BandKey.bands == self.bands,
                                                                       BandKey.key.in_(keys))))
                .order_by(IndexedLetter.seq))
        with Session(self.engine) as session:
            rows = session.execute(stmt).all()
        for letter_id, data, sub in rows:
            found.add_signature(letter_id, signature_from_bytes(data), sub)
        return found.query_signature(sig, threshold, exclude)

    def submitter_of(self, letter_id: str) -> str | None:
        return self._last.submitter_of(letter_id)

    def write(self, session: Session, staged: DuplicateIndex) -> int:
        """Index the staged letters (in order) within the caller's transaction; an id indexed already keeps its
        first signature. Returns how many were added."""
        added = 0
        for letter_id in staged.ids:
            added += self._write_one(session, letter_id, staged.signature_of(letter_id), staged.submitter_of(letter_id))
        self._count += added
        return added

    def _write_one(self, session: Session, letter_id: str, sig: np.ndarray, sub: str | None) -> int:
        table = IndexedLetter.__table__
        stmt = (self._insert(table).values(letter_id=letter_id, signature=signature_to_bytes(sig), submitter_hash=sub)
                .on_conflict_do_nothing(index_elements=[table.c.letter_id]).returning(table.c.seq))
        seq = session.execute(stmt).scalar()
        if seq is None:
            return 0
        self._write_bands(session, seq, sig)
        return 1

    def _write_bands(self, session: Session, seq: int, sig: np.ndarray) -> None:
        if is_empty(sig):
            return  # a letter without words matches nothing
        keys = sorted(set(_signed(self._params.band_keys(sig))))
        session.execute(BandKey.__table__.insert(), [{"bands": self.bands, "key": k, "seq": seq} for k in keys])

    def backfill(self, batch: int = 2000) -> int:
        """At start-up: index stored letters the index lacks (scored before it existed), oldest first, and give
        indexed letters band keys of this worker's banding if they have none. Returns the letters indexed."""
        added = 0
        with Session(self.engine) as session, session.begin():
            missing = (select(ScoredLetter.letter_id, ScoredLetter.signature, ScoredLetter.submitter_hash)
                       .where(~exists().where(IndexedLetter.letter_id == ScoredLetter.letter_id))
                       .order_by(ScoredLetter.row_id))
            for letter_id, data, sub in session.execute(missing).all():
                sig = signature_from_bytes(bytes(data))
                if sig.shape == (self.hasher.num_perm,):  # else written with other MinHash parameters
                    added += self._write_one(session, letter_id, sig, sub)
            unbanded = (select(IndexedLetter.seq, IndexedLetter.signature)
                        .where(~exists().where(BandKey.seq == IndexedLetter.seq, BandKey.bands == self.bands)))
            for seq, data in session.execute(unbanded.execution_options(yield_per=batch)).all():
                self._write_bands(session, seq, signature_from_bytes(bytes(data)))
            self._count = int(session.scalar(select(func.count()).select_from(IndexedLetter)) or 0)
        return added
