"""The Kafka change bus: settings, topics, the tenant partitioner, producers, claim checks, dead letters.

Input: KafkaSettings (from the environment, `TICKETSEARCH_KAFKA_*`). Output: kafka-python clients configured
for the guarantees below, topic creation, and helpers shared by the tailer and the indexer group.
Guarantee: producers use acks=all and surface every failed send (`Publisher.flush` raises PublishFailed), so a
caller that advances its checkpoint only after `flush` never passes an unacknowledged change. Partitions are
chosen by tenant (`partition_for`): every change of a tenant — hence of each of its ticket documents — lands in
one partition in commit order, and one indexer process owns each tenant's embedded index (docs/kafka.md).
A value over the broker's message limit is never dropped: it is written to the claim-check directory (fsynced,
named by its SHA-256) and a small envelope that points at it is published instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaConfigurationError, KafkaError, TopicAlreadyExistsError

from syncer.envelope import ClaimCheck, Envelope, key_tenant

log = logging.getLogger(__name__)

_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,200}")


class PublishFailed(RuntimeError):
    """A message was not acknowledged by the broker: the checkpoint must not pass it."""

    def __init__(self, reason: str, *, topic: str, key: str | None, position: str | None) -> None:
        super().__init__(f"publish to {topic} failed (key {key}, position {position}): {reason}")
        self.reason = reason
        self.topic = topic
        self.key = key
        self.position = position


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "127.0.0.1:9092"
    topic: str = "ticketsearch.changes"
    partitions: int = 6
    replication: int = 1
    group: str = "ticketsearch-indexer"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    max_message_bytes: int = 1_000_000       # the broker's message.max.bytes; larger values are claim-checked
    claim_dir: Path | None = None            # shared with the indexers; default <state_dir>/claims
    compression: str | None = None           # None | "gzip" | "lz4" | "zstd" | "snappy"
    linger_ms: int = 5
    batch_max_records: int = 5_000           # indexer: apply after this many records ...
    batch_max_wait_s: float = 0.05           # ... or after this long (bigger batches form on their own under load)
    watermark_interval_s: float = 0.25       # tailer: watermark every partition at most this often
    partitioner: str = "tenant"              # "tenant" (embedded backend) | "key" (murmur2 of the key)

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> KafkaSettings:
        """Settings from TICKETSEARCH_KAFKA_* variables (and explicit overrides); a bad value raises ValueError
        naming the variable."""
        base = cls()
        p = "TICKETSEARCH_KAFKA_"

        def number(name: str, default: float, kind: type = int, minimum: float = 1) -> Any:
            raw = env.get(p + name)
            if raw is None or raw == "":
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{p}{name}={raw!r} is not a {'whole ' if kind is int else ''}number") from None
            if not math.isfinite(value) or value < minimum:
                raise ValueError(f"{p}{name}={raw!r} must be a finite number of at least {minimum}")
            return value

        claim = env.get(p + "CLAIM_DIR")
        values: dict[str, Any] = {
            "bootstrap": env.get(p + "BOOTSTRAP", base.bootstrap),
            "topic": env.get(p + "TOPIC", base.topic),
            "partitions": number("PARTITIONS", base.partitions),
            "group": env.get(p + "GROUP", base.group),
            "session_timeout_ms": number("SESSION_TIMEOUT_MS", base.session_timeout_ms),
            "heartbeat_interval_ms": number("HEARTBEAT_MS", base.heartbeat_interval_ms),
            "max_message_bytes": number("MAX_MESSAGE_BYTES", base.max_message_bytes, minimum=1024),
            "claim_dir": Path(claim) if claim else None,
            "compression": env.get(p + "COMPRESSION") or None,
            "batch_max_records": number("BATCH_MAX_RECORDS", base.batch_max_records),
            "batch_max_wait_s": number("BATCH_MAX_WAIT_S", base.batch_max_wait_s, float, 0),
            "partitioner": env.get(p + "PARTITIONER", base.partitioner),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not _TOPIC_NAME.fullmatch(str(values["topic"])):
            raise ValueError(f"{p}TOPIC={values['topic']!r}: a topic name is 1-200 of [a-zA-Z0-9._-]")
        if values["partitions"] < 1:
            raise ValueError(f"--partitions {values['partitions']}: a topic needs at least 1 partition")
        if values["partitioner"] not in ("tenant", "key"):
            raise ValueError(f"{p}PARTITIONER={values['partitioner']!r}: use 'tenant' or 'key'")
        if values["compression"] not in (None, "gzip", "lz4", "zstd", "snappy"):
            raise ValueError(f"{p}COMPRESSION={values['compression']!r}: use gzip, lz4, zstd or snappy")
        return replace(base, **values)


class KafkaUnreachable(ValueError):
    """No broker answered at the bootstrap address."""

    def __init__(self, bootstrap: str, detail: str) -> None:
        super().__init__(f"cannot reach Kafka at {bootstrap} (TICKETSEARCH_KAFKA_BOOTSTRAP): {detail}; is the broker "
                         "running? `scripts/tansu.sh start --dir D --port P` starts a private one")
        self.bootstrap = bootstrap


def partition_for(key: str, partitions: int, partitioner: str = "tenant") -> int:
    """The partition of a key: by tenant (crc32 of `tenant:<id>`), or by the whole key (Kafka's murmur2)."""
    tenant = key_tenant(key)
    if partitioner == "key" or tenant is None:
        from kafka.partitioner.default import murmur2

        return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
    return zlib.crc32(f"tenant:{tenant}".encode()) % partitions


@dataclass(frozen=True)
class TopicInfo:
    partitions: int
    topic_id: str | None      # KIP-516 topic id: a re-created topic gets a new one (None: the broker has none)


def ensure_topics(settings: KafkaSettings, *extra: tuple[str, int]) -> dict[str, TopicInfo]:
    """Create the change topic (settings.partitions) and the dead-letter topic if they do not exist; return
    each topic's partition count and id. A change topic with another partition count than configured is used as
    it is (versions come from the binlog, so repartitioning loses nothing), with a warning."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="ticketsearch-admin",
                                 bootstrap_timeout_ms=10_000)
    except KafkaError as exc:
        raise KafkaUnreachable(settings.bootstrap, f"{type(exc).__name__}: {exc}") from exc
    try:
        wanted = [(settings.topic, settings.partitions), (settings.dlq_topic, 1), *extra]
        existing = set(admin.list_topics())
        for name, parts in wanted:
            if name in existing:
                continue
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, parts, settings.replication)])
        info = {}
        for t in admin.describe_topics([name for name, _ in wanted]):
            topic_id = str(t.get("topic_id") or "") or None
            info[t["name"]] = TopicInfo(len(t.get("partitions") or ()),
                                        None if topic_id == "00000000-0000-0000-0000-000000000000" else topic_id)
    finally:
        admin.close()
    change = info.get(settings.topic)
    if change is not None and change.partitions != settings.partitions:
        log.warning("topic %s has %d partitions, not the configured %d: using %d", settings.topic,
                    change.partitions, settings.partitions, change.partitions,
                    extra={"tenant": None, "position": None})
    return info


class Publisher:
    """An acks=all producer that remembers every pending send until `flush` confirms it."""

    def __init__(self, settings: KafkaSettings, *, client_id: str = "ticketsearch-tailer",
                 delivery_timeout_ms: int = 120_000) -> None:
        self.settings = settings
        try:
            self.producer = KafkaProducer(
                bootstrap_servers=settings.bootstrap, client_id=client_id, acks=-1,  # acks=all
                enable_idempotence=True, max_in_flight_requests_per_connection=1,  # retries keep partition order
                linger_ms=settings.linger_ms, batch_size=256 * 1024, compression_type=settings.compression,
                max_request_size=settings.max_message_bytes + 64 * 1024,
                request_timeout_ms=30_000, delivery_timeout_ms=delivery_timeout_ms, bootstrap_timeout_ms=10_000,
                allow_auto_create_topics=False,     # topics come from ensure_topics, with their partition count
            )
        except KafkaConfigurationError:
            raise
        except KafkaError as exc:
            raise KafkaUnreachable(settings.bootstrap, f"{type(exc).__name__}: {exc}") from exc
        self._pending: list[tuple[Any, str, str | None, str | None]] = []
        self._partitions: dict[str, int] = {}

    def partitions(self, topic: str) -> int:
        if topic not in self._partitions:
            found = None
            deadline = time.monotonic() + 30
            while not found and time.monotonic() < deadline:
                found = self.producer.partitions_for(topic)
            if not found:
                raise PublishFailed("topic has no partitions", topic=topic, key=None, position=None)
            self._partitions[topic] = len(found)
        return self._partitions[topic]

    def send(self, topic: str, key: str, value: bytes, *, partition: int | None = None,
             position: str | None = None, headers: list[tuple[str, bytes]] | None = None) -> None:
        if partition is None:
            partition = partition_for(key, self.partitions(topic), self.settings.partitioner)
        try:
            fut = self.producer.send(topic, key=key.encode(), value=value, partition=partition, headers=headers)
        except (KafkaError, ValueError) as exc:    # ValueError: the topic lost partitions (re-created)
            raise PublishFailed(f"{type(exc).__name__}: {exc}", topic=topic, key=key, position=position) from exc
        self._pending.append((fut, topic, key, position))

    def flush(self, timeout: float = 120.0) -> int:
        """Wait until every pending send is acknowledged (acks=all); raise PublishFailed on the first failure."""
        self.producer.flush(timeout=timeout)
        pending, self._pending = self._pending, []
        for fut, topic, key, position in pending:
            try:
                fut.get(timeout=timeout)
            except KafkaError as exc:
                raise PublishFailed(f"{type(exc).__name__}: {exc}", topic=topic, key=key, position=position) from exc
        return len(pending)

    def close(self, timeout: float = 10) -> None:
        """Close the producer; `timeout=0` drops what is still unsent (nothing acknowledged is lost: callers
        republish or rewind everything after their last confirmed flush)."""
        self.producer.close(timeout=timeout)


# ---- claim checks ------------------------------------------------------------------------------------
def store_claim(value: bytes, claim_dir: Path) -> ClaimCheck:
    """Store `value` durably (fsynced, named by its SHA-256) under claim_dir."""
    digest = hashlib.sha256(value).hexdigest()
    claim_dir.mkdir(parents=True, exist_ok=True)
    path = claim_dir / f"{digest}.json"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(value)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return ClaimCheck(str(path), digest, len(value))


def read_claim(claim: ClaimCheck) -> bytes:
    """The bytes a claim check points at (EnvelopeError if missing or altered)."""
    from syncer.envelope import EnvelopeError

    path = Path(claim.path)
    try:
        value = path.read_bytes()
    except OSError as exc:
        raise EnvelopeError(f"claim-check file unreadable: {exc}", field="claim_check") from exc
    if hashlib.sha256(value).hexdigest() != claim.sha256:
        raise EnvelopeError(f"claim-check file {path} does not match its sha256", field="claim_check")
    return value


def claim_check(env: Envelope, value: bytes, claim_dir: Path) -> Envelope:
    """Store `value` durably under claim_dir and return the envelope that points at it."""
    claim = store_claim(value, claim_dir)
    log.warning("change of %d bytes over the message limit: claim-checked to %s", len(value), claim.path,
                extra={"tenant": None, "position": env.position})
    return replace(env, before=None, after=None, claim_check=claim)


def resolve_claim(env: Envelope) -> Envelope:
    """The full envelope a claim-checked one points at (EnvelopeError if missing or altered)."""
    assert env.claim_check is not None
    return Envelope.decode(read_claim(env.claim_check))


def dead_letter_value(*, payload: bytes, reason: str, tenant: int | None, ticket: int | None,
                      position: str | None, topic: str, partition: int, offset: int, key: bytes | None,
                      max_bytes: int | None = None, claim_dir: Path | None = None) -> bytes:
    """A dead-letter record: the original payload (text, or hex when not UTF-8) with why, whose and where. A
    letter over `max_bytes` (JSON escaping can double a payload) keeps its payload in the claim directory
    instead (`payload_claim`: path, sha256, bytes), so a dead letter never fails to publish."""
    try:
        text: str | None = payload.decode()
        hexed = None
    except UnicodeDecodeError:
        text, hexed = None, payload.hex()
    letter: dict[str, Any] = {"reason": reason, "tenant": tenant, "ticket": ticket, "position": position,
                              "topic": topic, "partition": partition, "offset": offset,
                              "key": None if key is None else key.decode(errors="replace"),
                              "payload": text, "payload_hex": hexed, "failed_at_ms": int(time.time() * 1000)}
    value = json.dumps(letter, ensure_ascii=False).encode()
    if max_bytes is not None and claim_dir is not None and len(value) > max_bytes:
        claim = store_claim(payload, claim_dir)
        letter.update(payload=None, payload_hex=None,
                      payload_claim={"path": claim.path, "sha256": claim.sha256, "bytes": claim.bytes})
        value = json.dumps(letter, ensure_ascii=False).encode()
    return value


def dead_letter_payload(letter: dict[str, Any]) -> bytes:
    """The original payload of a dead letter (read from the claim directory when it was too large)."""
    if letter.get("payload_claim"):
        c = letter["payload_claim"]
        return read_claim(ClaimCheck(str(c["path"]), str(c["sha256"]), int(c["bytes"])))
    if letter.get("payload") is not None:
        return str(letter["payload"]).encode()
    return bytes.fromhex(str(letter["payload_hex"]))
