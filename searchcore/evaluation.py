"""Relevance evaluation over a BEIR-format judged set: metrics, split, the product run and the BM25 baseline.

Input: a BEIR directory (corpus.jsonl, queries.jsonl, qrels.tsv with graded judgments).
Output: nDCG@10 (gain 2^grade - 1), MRR@10 and Recall@100 averaged over the queries that have judgments, for the
product (its analyzer, a Tantivy index built the product's way, its ranking from the mapping) and for the baseline
(plain BM25 k1=0.9 b=0.4 over `jieba.lcut_for_search` tokens, lowercased, punctuation dropped, both sides).
Guarantee: only judged queries are scored; the tuning/checking split is a fixed-seed shuffle of the judged query
ids; nothing here derives dictionary words, synonyms or boosts from the judged set.
"""

from __future__ import annotations

import json
import math
import random
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from analyzers import Analyzer, AnalyzerConfig
from mappings import IndexMapping, load_mapping
from searchcore.documents import Part, StoredTicket
from searchcore.query import MatchAll, Node, SearchRequest, Text

Qrels = dict[str, dict[str, int]]
Run = dict[str, list[str]]
SPLIT_SEED = 20240601
_PUNCT_ONLY = re.compile(r"^[\W_]+$")


@dataclass(frozen=True)
class Scores:
    ndcg10: float
    mrr10: float
    recall100: float
    queries: int


@dataclass(frozen=True)
class BeirSet:
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: Qrels


def load_beir(path: Path) -> BeirSet:
    corpus: dict[str, str] = {}
    with open(path / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            corpus[str(d["_id"])] = " ".join(x for x in (d.get("title", ""), d.get("text", "")) if x)
    queries: dict[str, str] = {}
    with open(path / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            queries[str(d["_id"])] = str(d["text"])
    qrels: Qrels = defaultdict(dict)
    with open(path / "qrels.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, grade = line.rstrip("\n").split("\t")
            qrels[qid][did] = int(grade)
    return BeirSet(corpus, queries, dict(qrels))


def split(qids: Iterable[str], seed: int = SPLIT_SEED) -> tuple[list[str], list[str]]:
    """(tuning, checking): a fixed-seed shuffle of the sorted judged query ids, cut in half."""
    ordered = sorted(qids)
    random.Random(seed).shuffle(ordered)
    half = len(ordered) // 2
    return sorted(ordered[:half]), sorted(ordered[half:])


def ndcg_at(ranked: Sequence[str], judged: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** judged.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(judged.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mrr_at(ranked: Sequence[str], judged: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if judged.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at(ranked: Sequence[str], judged: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def evaluate(run: Run, qrels: Qrels, qids: Iterable[str] | None = None) -> Scores:
    """Mean metrics over the judged queries in `qids` (default: all judged); a query missing from the run scores 0."""
    ids = [q for q in (qids if qids is not None else qrels) if q in qrels]
    if not ids:
        return Scores(0.0, 0.0, 0.0, 0)
    n = len(ids)
    return Scores(
        ndcg10=sum(ndcg_at(run.get(q, []), qrels[q]) for q in ids) / n,
        mrr10=sum(mrr_at(run.get(q, []), qrels[q]) for q in ids) / n,
        recall100=sum(recall_at(run.get(q, []), qrels[q]) for q in ids) / n,
        queries=n,
    )


# ---- baseline: plain BM25 over jieba search-mode tokens ------------------------------------------------

def baseline_tokens(text: str) -> list[str]:
    import jieba

    jieba.setLogLevel(60)
    return [t for t in (w.strip().lower() for w in jieba.lcut_for_search(text)) if t and not _PUNCT_ONLY.match(t)]


class BM25:
    def __init__(self, docs: dict[str, list[str]], k1: float = 0.9, b: float = 0.4) -> None:
        self.k1, self.b = k1, b
        self.ids = list(docs)
        self.lengths = [len(docs[d]) for d in self.ids]
        self.avgdl = sum(self.lengths) / max(1, len(self.lengths))
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, d in enumerate(self.ids):
            for term, tf in Counter(docs[d]).items():
                self.postings[term].append((i, tf))
        n = len(self.ids)
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}

    def search(self, terms: list[str], k: int = 100) -> list[str]:
        scores: dict[int, float] = defaultdict(float)
        for t in terms:  # repeated query terms count again, as in Lucene/pyserini bag-of-words queries
            idf = self.idf.get(t)
            if idf is None:
                continue
            for i, tf in self.postings[t]:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avgdl)
                scores[i] += idf * tf * (self.k1 + 1) / (tf + norm)
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [self.ids[i] for i, _ in best]


def baseline_run(data: BeirSet, qids: Sequence[str]) -> Run:
    index = BM25({d: baseline_tokens(t) for d, t in data.corpus.items()})
    return {q: index.search(baseline_tokens(data.queries[q])) for q in qids}


# ---- the product ---------------------------------------------------------------------------------------

def build_product_index(data: BeirSet, root: Path, mapping: IndexMapping, analyzer: Analyzer) -> list[str]:
    """Index the corpus as tickets of tenant 1 (title+text → subject) the way the syncer writes them."""
    from searchcore.embedded import EmbeddedBackend

    backend = EmbeddedBackend(root, mapping, analyzer, writable=True)
    doc_ids = list(data.corpus)
    batch: list[StoredTicket] = []
    for i, did in enumerate(doc_ids, start=1):
        row = {"subject": data.corpus[did], "body": "", "status": "open", "priority": "normal",
               "created_at": "2024-01-01 00:00:00", "updated_at": "2024-01-01 00:00:00"}
        batch.append(StoredTicket(1, i, Part(1, row)))
        if len(batch) >= 5000:
            backend.write(1, batch, None)
            batch = []
    if batch:
        backend.write(1, batch, None)
    backend.close()
    return doc_ids


def product_run(data: BeirSet, qids: Sequence[str], root: Path, doc_ids: list[str], mapping: IndexMapping,
                analyzer: Analyzer, parse: Callable[[str], Node] | None = None) -> Run:
    from searchcore.embedded import EmbeddedBackend
    from searchcore.embedded_search import search

    backend = EmbeddedBackend(root, mapping, analyzer, writable=False)
    run: Run = {}
    for q in qids:
        text = data.queries[q]
        node = parse(text) if parse is not None else Text(text)
        if isinstance(node, MatchAll):
            run[q] = []
            continue
        result = search(backend, 1, SearchRequest(query=node, limit=100, highlight=False))
        run[q] = [doc_ids[h.ticket_id - 1] for h in result.hits]
    return run


def ranking_variant(mapping: IndexMapping, **changes: float | int) -> IndexMapping:
    return mapping.model_copy(update={"ranking": mapping.ranking.model_copy(update=changes)})


def temp_index_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ts-eval-"))


def default_product() -> tuple[IndexMapping, Analyzer]:
    return load_mapping(), Analyzer(AnalyzerConfig())
