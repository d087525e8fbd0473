"""Per-tenant, versioned user dictionaries (and stop words): uploaded, staged, activated by a reindex.

Input: word lists per tenant. Output: <state>/dictionaries/<tenant>/v<n>.json (immutable once written) and
<state>/dictionaries/<tenant>/state.json = {"staged": n | null, "active": n | null}; the Analyzer of a version.
Guarantee: a version never changes after upload; `active` moves only when a reindex built with that version
becomes the tenant's CURRENT generation (queries always use the analyzer recorded with the generation they
search, `resolver`), so activating a dictionary never mixes old-token documents with new-token queries.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzers.analyzer import Analyzer
from analyzers.types import AnalyzerConfig

MAX_WORDS = 200_000
MAX_WORD_CHARS = 64


class DictionaryError(ValueError):
    def __init__(self, message: str, *, tenant_id: int, version: int | None = None) -> None:
        super().__init__(f"tenant {tenant_id}: {message}")
        self.tenant_id = tenant_id
        self.version = version


@dataclass(frozen=True)
class DictionaryVersion:
    tenant_id: int
    version: int
    user_words: tuple[str, ...]
    stop_words: tuple[str, ...]
    uploaded_at: float

    def config(self) -> AnalyzerConfig:
        return AnalyzerConfig(user_words=self.user_words, stop_words=frozenset(self.stop_words))

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "words": len(self.user_words), "stop_words": len(self.stop_words),
                "uploaded_at": self.uploaded_at}


def _atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class DictionaryStore:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "dictionaries"
        self._lock = threading.Lock()
        self._analyzers: dict[tuple[int, int], Analyzer] = {}

    def _dir(self, tenant_id: int) -> Path:
        return self.root / str(tenant_id)

    def upload(self, tenant_id: int, user_words: list[str], stop_words: list[str] | None = None) -> DictionaryVersion:
        words = tuple(dict.fromkeys(w.strip() for w in user_words if w.strip()))
        stops = tuple(dict.fromkeys(w.strip() for w in (stop_words or []) if w.strip()))
        if not words and not stops:
            raise DictionaryError("the dictionary is empty", tenant_id=tenant_id)
        if len(words) + len(stops) > MAX_WORDS:
            raise DictionaryError(f"{len(words) + len(stops)} entries; at most {MAX_WORDS}", tenant_id=tenant_id)
        long = [w for w in words + stops if len(w) > MAX_WORD_CHARS]
        if long:
            raise DictionaryError(f"entries longer than {MAX_WORD_CHARS} characters: {long[:3]}", tenant_id=tenant_id)
        with self._lock:
            folder = self._dir(tenant_id)
            folder.mkdir(parents=True, exist_ok=True)
            version = max((v.version for v in self.versions(tenant_id)), default=0) + 1
            dv = DictionaryVersion(tenant_id, version, words, stops, time.time())
            _atomic(folder / f"v{version}.json", {"version": version, "user_words": list(words),
                                                   "stop_words": list(stops), "uploaded_at": dv.uploaded_at})
            state = self.state(tenant_id)
            _atomic(folder / "state.json", {**state, "staged": version})
        return dv

    def versions(self, tenant_id: int) -> list[DictionaryVersion]:
        folder = self._dir(tenant_id)
        out = []
        for path in folder.glob("v*.json") if folder.exists() else []:
            if path.stem[1:].isdigit():
                out.append(self.get(tenant_id, int(path.stem[1:])))
        return sorted(out, key=lambda v: v.version)

    def get(self, tenant_id: int, version: int) -> DictionaryVersion:
        path = self._dir(tenant_id) / f"v{version}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DictionaryError(f"no dictionary version {version}", tenant_id=tenant_id, version=version) from None
        return DictionaryVersion(tenant_id, int(data["version"]), tuple(data["user_words"]),
                                 tuple(data.get("stop_words", [])), float(data.get("uploaded_at", 0)))

    def state(self, tenant_id: int) -> dict[str, int | None]:
        try:
            data = json.loads((self._dir(tenant_id) / "state.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            data = {}
        return {"staged": data.get("staged"), "active": data.get("active")}

    def mark_active(self, tenant_id: int, version: int | None) -> None:
        """Called when a generation built with `version` became CURRENT (None: the built-in dictionary)."""
        with self._lock:
            folder = self._dir(tenant_id)
            folder.mkdir(parents=True, exist_ok=True)
            state = self.state(tenant_id)
            staged = None if state["staged"] == version else state["staged"]
            _atomic(folder / "state.json", {"staged": staged, "active": version})

    def analyzer(self, tenant_id: int, version: int) -> Analyzer:
        key = (tenant_id, version)
        with self._lock:
            found = self._analyzers.get(key)
        if found is None:
            found = Analyzer(self.get(tenant_id, version).config())
            with self._lock:
                self._analyzers[key] = found
        return found

    def resolver(self, tenant_id: int, meta: dict[str, Any]) -> Analyzer | None:
        """The analyzer a generation was built with (its meta names the dictionary version), None = default."""
        version = meta.get("dictionary")
        return None if version is None else self.analyzer(tenant_id, int(version))
