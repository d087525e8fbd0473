"""docker-compose.yml is a valid Compose file (checked by Debian's `docker-compose config`) and runs the
distributed deployment: MariaDB 10.11 with the binlog settings, Kafka (KRaft), Elasticsearch 9, app services."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_docker_compose_config_validates_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        print("docker-compose not installed (Debian package docker-compose; scripts/bootstrap.sh installs it)")
        pytest.skip("docker-compose binary missing: install the Debian package docker-compose (scripts/bootstrap.sh)")
    done = subprocess.run([binary, "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=120,
                          cwd=COMPOSE.parent)
    assert done.returncode == 0, done.stderr
    rendered = done.stdout
    for needle in ("mariadb:10.11", "--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL",
                   "KAFKA_PROCESS_ROLES: broker,controller", "elasticsearch/elasticsearch:9.",
                   "discovery.type: single-node", "TICKETSEARCH_ES_URL: http://elasticsearch:9200"):
        assert needle in rendered, needle
    for service in ("mariadb", "kafka", "elasticsearch", "syncer", "api"):
        assert f"  {service}:" in rendered, service
    assert rendered.count("healthcheck:") >= 5
