"""The sync service's ownership of its state folder.

Input: the state folder. Output: an exclusive lock held for the life of the process (released by the kernel
on exit, kill -9 included). Guarantee: a second sync service on the same folder is refused at once with the
owner's pid, instead of fighting over the binlog connection (same replica server id) and the index writers.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class SyncAlreadyRunning(RuntimeError):
    """Another sync service owns this state folder (one writer per index, one binlog reader per server id)."""

    def __init__(self, state_dir: Path, owner: str) -> None:
        super().__init__(f"another sync service (pid {owner or '?'}) already owns {state_dir}; stop it first, "
                         "or give this one its own TICKETSEARCH_STATE_DIR and TICKETSEARCH_REPLICA_SERVER_ID")
        self.state_dir = state_dir
        self.owner = owner


def lock_state_dir(state_dir: Path) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "sync.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise SyncAlreadyRunning(state_dir, owner) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def unlock_state_dir(fd: int) -> None:
    os.close(fd)
