"""Sync side: binlog tailer, snapshot, indexer, dead letters, checkpoints, the embedded service."""
