"""Shared by the syncer and the query API (which must not import each other): the ticket document
model, binlog positions and versions, the search-backend interface and its implementations, and the
MySQL connection settings."""
