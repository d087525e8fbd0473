"""Binlog positions and the document versions derived from them.

Input: a binlog file name + byte offset (+ the GTID of the transaction, carried alongside).
Output: totally ordered positions and 63-bit versions.
Guarantee: within one binlog history (one epoch) a later change always has a strictly larger version;
a higher epoch outranks every version of a lower one. Kafka offsets are never versions.

Version layout (63 bits, fits a signed 64-bit integer, as Elasticsearch external versions require):

    epoch (9 bits) | binlog file sequence number (18 bits) | byte offset inside the file (36 bits)

For a row of a rows event the offset is ``event_start + row_index``: a row occupies at least one byte
of its event, so ``event_start + row_index < event_end`` and rows of one event get distinct, increasing
versions that never reach the next event's. A snapshot taken at position P uses P's offset, which is a
transaction boundary, so every change committed after the snapshot has a larger version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EPOCH_BITS = 9
FILE_BITS = 18
OFFSET_BITS = 36
MAX_EPOCH = (1 << EPOCH_BITS) - 1
MAX_FILE_SEQ = (1 << FILE_BITS) - 1
MAX_OFFSET = (1 << OFFSET_BITS) - 1

_FILE_SEQ = re.compile(r"\.(\d+)$")


class PositionError(ValueError):
    """A binlog position that cannot be turned into a version."""

    def __init__(self, message: str, *, file: str | None = None, offset: int | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.offset = offset


def file_sequence(file: str) -> int:
    """The numeric suffix of a binlog file name (``mysql-bin.000042`` -> 42)."""
    match = _FILE_SEQ.search(file)
    if match is None:
        raise PositionError(f"binlog file name {file!r} has no numeric suffix", file=file)
    seq = int(match.group(1))
    if seq > MAX_FILE_SEQ:
        raise PositionError(f"binlog file sequence {seq} exceeds {MAX_FILE_SEQ}", file=file)
    return seq


@dataclass(frozen=True, order=False)
class BinlogPosition:
    """A point in the source's binlog: the start of the next event to read."""

    file: str
    offset: int
    gtid: str | None = None  # GTID of the last transaction committed before this point, if known

    def key(self) -> tuple[int, int]:
        return (file_sequence(self.file), self.offset)

    def __lt__(self, other: BinlogPosition) -> bool:
        return self.key() < other.key()

    def __le__(self, other: BinlogPosition) -> bool:
        return self.key() <= other.key()

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "offset": self.offset, "gtid": self.gtid}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BinlogPosition:
        gtid = data.get("gtid")
        return cls(file=str(data["file"]), offset=int(str(data["offset"])), gtid=None if gtid is None else str(gtid))

    def __str__(self) -> str:
        return f"{self.file}:{self.offset}" + (f" (gtid {self.gtid})" if self.gtid else "")


def make_version(epoch: int, file: str, offset: int) -> int:
    """The 63-bit version of a change at ``offset`` in binlog ``file`` within ``epoch``."""
    if not 0 <= epoch <= MAX_EPOCH:
        raise PositionError(f"epoch {epoch} outside 0..{MAX_EPOCH}", file=file, offset=offset)
    if not 0 <= offset <= MAX_OFFSET:
        raise PositionError(f"offset {offset} outside 0..{MAX_OFFSET}", file=file, offset=offset)
    return (epoch << (FILE_BITS + OFFSET_BITS)) | (file_sequence(file) << OFFSET_BITS) | offset


def split_version(version: int) -> tuple[int, int, int]:
    """(epoch, file sequence, offset) of a version; the inverse of make_version."""
    return (
        version >> (FILE_BITS + OFFSET_BITS),
        (version >> OFFSET_BITS) & MAX_FILE_SEQ,
        version & MAX_OFFSET,
    )
