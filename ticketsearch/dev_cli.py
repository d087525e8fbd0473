"""Developer commands of `ticketsearch`: analyze (tokens, offsets and their origin) and eval (relevance of the
product against the BM25 baseline on a BEIR-format judged set)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any


def cmd_analyze(args: argparse.Namespace) -> int:
    from analyzers import Analyzer, AnalyzerConfig
    from analyzers.synonyms import SynonymStore, expand

    analyzer = Analyzer(AnalyzerConfig(user_words=tuple(args.word or ())))
    tokens = analyzer.analyze_query(args.text) if args.mode == "query" else analyzer.analyze_index(args.text)
    text = args.text
    out: dict[str, Any] = {
        "analyzer": analyzer.identity, "mode": args.mode, "normalized": analyzer.normalize(text),
        "tokens": [{"term": t.text, "start": t.start, "end": t.end, "original": text[t.start:t.end],
                    "position": t.position, "source": t.source, "origin": analyzer.origin(t)} for t in tokens],
    }
    if args.mode == "query" and args.tenant is not None:
        state = Path(args.state_dir or os.environ.get("TICKETSEARCH_STATE_DIR", ".state"))
        syn = SynonymStore(state / "synonyms").get(args.tenant)
        out["synonyms"] = {"version": syn.version, "slots": [
            {"terms": list(s.terms), "alternatives": [list(a) for a in s.alternatives]}
            for s in expand(analyzer, [t.text for t in tokens], syn)]}
    print(json.dumps(out, ensure_ascii=False, indent=None if args.compact else 2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Product vs baseline (and the ranking ablation) on a BEIR set, tuning and/or checking half."""
    from queryapi.querylang import QuerySyntaxError, parse_query
    from searchcore import evaluation as ev
    from searchcore.query import Node, Text

    started = time.monotonic()
    data = ev.load_beir(Path(args.data))
    tuning, checking = ev.split(data.qrels)
    halves = {"tuning": tuning, "checking": checking, "all": sorted(tuning + checking)}
    names = ["tuning", "checking"] if args.half == "both" else [args.half]
    if args.limit:
        halves = {k: v[: args.limit] for k, v in halves.items()}
    wanted = sorted({q for n in names for q in halves[n]})
    mapping, analyzer = ev.default_product()

    def parse(text: str) -> Node:
        try:
            return parse_query(text, mapping)
        except QuerySyntaxError:
            return Text(text)

    root = ev.temp_index_dir()
    doc_ids = ev.build_product_index(data, root, mapping, analyzer)
    variants: list[tuple[str, Any]] = [("product (mapping as shipped)", mapping)]
    if args.ablation:
        variants += [
            ("relaxed: any term matches (msm 0, no 2-term AND)", ev.ranking_variant(
                mapping, min_should_match_ratio=0.0, all_terms_up_to=1)),
            ("relaxed, query sub-words off", ev.ranking_variant(
                mapping, min_should_match_ratio=0.0, all_terms_up_to=1, query_subword_weight=0.0)),
            ("relaxed, phrase bonus off", ev.ranking_variant(
                mapping, min_should_match_ratio=0.0, all_terms_up_to=1, phrase_boost=0.0)),
            ("- query sub-words off", ev.ranking_variant(mapping, query_subword_weight=0.0)),
            ("- phrase proximity bonus off", ev.ranking_variant(mapping, phrase_boost=0.0)),
            ("- sub-word field off", ev.ranking_variant(mapping, subword_weight=0.0)),
        ]
    rows: list[dict[str, Any]] = []
    base = ev.baseline_run(data, wanted)
    for name in names:
        s = ev.evaluate(base, data.qrels, halves[name])
        rows.append({"system": "baseline BM25 k1=0.9 b=0.4 jieba search mode", "half": name, **s.__dict__})
    for label, m in variants:
        run = ev.product_run(data, wanted, root, doc_ids, m, analyzer, parse)
        for name in names:
            s = ev.evaluate(run, data.qrels, halves[name])
            rows.append({"system": label, "half": name, **s.__dict__})
    for r in rows:
        print(f"{r['half']:9} {r['system']:48} nDCG@10 {r['ndcg10']:.4f}  MRR@10 {r['mrr10']:.4f}  "
              f"Recall@100 {r['recall100']:.4f}  ({r['queries']} queries)")
    print(f"elapsed {time.monotonic() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), "utf-8")
    return 0
