"""MySQL/MariaDB connection settings shared by every process that talks to the source database.

Input: an environment mapping (passed explicitly, never read at import). Output: a frozen settings
object and PyMySQL connection keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_PORT = 3407  # the project's private MariaDB (scripts/mariadb.sh); never the machine's 3306


@dataclass(frozen=True)
class MySQLSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    user: str = "root"
    password: str = ""
    database: str = "helpdesk"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MySQLSettings:
        return cls(
            host=env.get("TICKETSEARCH_MYSQL_HOST", cls.host),
            port=int(env.get("TICKETSEARCH_MYSQL_PORT", str(cls.port))),
            user=env.get("TICKETSEARCH_MYSQL_USER", cls.user),
            password=env.get("TICKETSEARCH_MYSQL_PASSWORD", cls.password),
            database=env.get("TICKETSEARCH_MYSQL_DATABASE", cls.database),
        )

    def connect_kwargs(self, *, with_database: bool = True) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "charset": "utf8mb4",
            "autocommit": True,
            "ssl_disabled": True,  # local connections; PyMySQL otherwise builds an unused SSL context (~50 ms)
        }
        if with_database:
            kwargs["database"] = self.database
        return kwargs

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"
