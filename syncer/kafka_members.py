"""Which Kafka indexer members run on a state folder (they share its index writers).

Input: the indexers' state folder. Output: a shared lock each member holds for its life
(`<state>/kafka/members.lock`, released by the kernel on exit, kill -9 included) and an exclusive one for work
that needs the writers to itself (dead-letter replay, offline reconcile). Guarantee: such work is refused at
once with a message saying what to stop, instead of failing ticket by ticket on the writer lock; a member
started meanwhile waits for it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class IndexerMembersRunning(ValueError):
    """Kafka indexer members hold this state folder's index writers."""

    def __init__(self, state_dir: Path, what: str) -> None:
        super().__init__(f"Kafka indexer members (`ticketsearch index`) are running on {state_dir} and hold its index "
                         f"writers: stop them, then {what}")
        self.state_dir = state_dir


def _open(state_dir: Path) -> int:
    (state_dir / "kafka").mkdir(parents=True, exist_ok=True)
    return os.open(state_dir / "kafka" / "members.lock", os.O_RDWR | os.O_CREAT, 0o644)


def join_members(state_dir: Path) -> int:
    """Held by a member for its life (shared with the other members); waits while a replay/reconcile runs."""
    fd = _open(state_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        log.warning("waiting: a dead-letter replay or an offline reconcile uses %s", state_dir,
                    extra={"tenant": None, "position": None})
        fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def is_group_folder(state_dir: Path) -> bool:
    """Has a Kafka indexer member ever run on this state folder?"""
    return (state_dir / "kafka" / "members.lock").exists()


def exclusive(state_dir: Path, what: str) -> int | None:
    """The writers to oneself; IndexerMembersRunning if a member runs. Release with `release`. None (nothing to
    hold) for a folder no member ever used."""
    if not is_group_folder(state_dir):
        return None
    fd = _open(state_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise IndexerMembersRunning(state_dir, what) from None
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


class NotAGroupFolder(ValueError):
    """An embedded sync service pointed at a Kafka indexer group's state folder."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(f"{state_dir} belongs to a Kafka indexer group (`ticketsearch index`): an embedded sync here "
                         "would write a second checkpoint beside the group's; give it its own --state-dir")
        self.state_dir = state_dir
