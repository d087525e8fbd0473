"""Preview of a dictionary change on a sample of a tenant's real tickets (`ticketsearch analyze --diff`).

Input: the source, the tenant, the staged dictionary version (default: the staged one) and a sample size.
Output: which tokens appear or disappear (with document counts), how many sampled documents change, examples.
Guarantee: read-only: nothing is indexed or activated; the "before" side is the analyzer the tenant's active
generation uses (its active dictionary, or the built-in one).
Versioned storage itself lives in analyzers/dictionaries.py (shared with the query API).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pymysql

from analyzers import Analyzer, AnalyzerConfig
from analyzers.dictionaries import DictionaryError, DictionaryStore
from searchcore.dbconfig import MySQLSettings
from syncer.source_mapping import SourceMapping


def diff_preview(source: MySQLSettings, mapping: SourceMapping, state_dir: Path, tenant: int,
                 version: int | None = None, sample: int = 500) -> dict[str, Any]:
    store = DictionaryStore(state_dir)
    state = store.state(tenant)
    version = version if version is not None else state["staged"]
    if version is None:
        raise DictionaryError("no staged dictionary to preview (upload one first)", tenant_id=tenant)
    before = Analyzer(AnalyzerConfig()) if state["active"] is None else store.analyzer(tenant, int(state["active"]))
    after = store.analyzer(tenant, int(version))
    doc = mapping.document
    cols = [c for c in (doc.column_of("subject"), doc.column_of("body")) if c]
    conn = pymysql.connect(**source.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT `{doc.id_column}`, {', '.join(f'`{c}`' for c in cols)} FROM `{doc.table}` "
                        f"WHERE `{doc.tenant_column}` = %s ORDER BY RAND(7) LIMIT %s", (tenant, sample))
            rows = cur.fetchall()
    finally:
        conn.close()
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    affected, examples = 0, list[dict[str, Any]]()
    for row in rows:
        text = "\n".join(str(v) for v in row[1:] if v)
        old = {t.text for t in before.analyze_index(text)}
        new = {t.text for t in after.analyze_index(text)}
        if old != new:
            affected += 1
            gained.update(new - old)
            lost.update(old - new)
            if len(examples) < 5:
                examples.append({"ticket_id": int(row[0]), "new_tokens": sorted(new - old)[:10],
                                 "gone_tokens": sorted(old - new)[:10]})
    return {"tenant": tenant, "before": {"dictionary": state["active"], "analyzer": before.identity},
            "after": {"dictionary": version, "analyzer": after.identity}, "documents_sampled": len(rows),
            "documents_affected": affected, "tokens_gained": gained.most_common(20),
            "tokens_lost": lost.most_common(20), "examples": examples,
            "activate": f"ticketsearch reindex --tenant {tenant} --dictionary-version {version}"}
