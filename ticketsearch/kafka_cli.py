"""The distributed commands of `ticketsearch` (docs/kafka.md): `sync --bus kafka` (binlog -> Kafka) and `index`
(an indexer group member: Kafka -> per-tenant indexes)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
from typing import Any

from ticketsearch.settings_from_args import sync_settings as _sync_settings


def _kafka_settings(args: argparse.Namespace) -> Any:
    from syncer.kafka_bus import KafkaSettings

    logging.getLogger("kafka").setLevel(logging.WARNING)   # the client logs every connection at INFO
    return KafkaSettings.from_env(os.environ, bootstrap=getattr(args, "kafka_bootstrap", None),
                                  topic=getattr(args, "topic", None), partitions=getattr(args, "partitions", None),
                                  group=getattr(args, "group", None))


def cmd_sync_kafka(args: argparse.Namespace) -> int:
    """The tailer half of the distributed pipeline: binlog -> Kafka (docs/kafka.md)."""
    from syncer.kafka_tailer import KafkaTailer
    from syncer.statelock import lock_state_dir, unlock_state_dir

    settings = _sync_settings(args)
    lock = lock_state_dir(settings.state_dir)     # one tailer per state folder (checkpoint, binlog connection)
    tailer = KafkaTailer(settings, _kafka_settings(args))
    try:
        if getattr(args, "resnapshot", False):
            tailer.request_resnapshot("ticketsearch sync --bus kafka --resnapshot")
        tailer.run(snapshot_only=bool(getattr(args, "snapshot_only", False)))
    except KeyboardInterrupt:
        pass
    finally:
        tailer.close()
        unlock_state_dir(lock)
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """The indexer half: one member of the indexer group, Kafka -> per-tenant indexes (docs/kafka.md)."""
    from syncer import kafka_indexer, kafka_lag, kafka_replay

    settings, kafka = _sync_settings(args), _kafka_settings(args)
    if args.lag:
        from syncer.kafka_bus import ensure_topics
        from syncer.tailer import current_position

        topic = ensure_topics(kafka)[kafka.topic]       # the real partition count and id, not the configured
        print(json.dumps(kafka_lag.lag(settings.state_dir, topic.partitions, current_position(settings.source),
                                           topic.topic_id)))
        return 0
    if args.replay_deadletters:
        print(json.dumps(kafka_replay.replay_dead_letters(settings, kafka)))
        return 0
    if args.from_debezium:
        from syncer.debezium_rekey import rekey_debezium

        with contextlib.suppress(KeyboardInterrupt):
            rekey_debezium(settings, kafka, args.from_debezium, epoch=args.epoch)
        return 0
    indexer = kafka_indexer.KafkaIndexer(settings, kafka, member=args.member, epoch=args.epoch)
    with contextlib.suppress(KeyboardInterrupt):
        indexer.run()
    return 0


def _kafka_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kafka-bootstrap", default=None, help="host:port (env TICKETSEARCH_KAFKA_BOOTSTRAP)")
    p.add_argument("--topic", default=None, help="change topic (env TICKETSEARCH_KAFKA_TOPIC)")
    p.add_argument("--partitions", type=int, default=None, help="partitions when creating the topic")
