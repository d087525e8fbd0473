"""Tokenizer benchmark (script, not a test): python bench/bench_tokenizer.py [max_docs_per_file]

Input: the text columns of /work/shared/data/tickets/*.csv.
Output: printed chars/s and docs/s of jieba.lcut_for_search, rjieba cut_for_search and
Analyzer.analyze_index (full pipeline) in one run, their ratios, and jieba vs rjieba parity (HMM off/on).
"""

from __future__ import annotations

import csv
import glob
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TEXT_COLUMNS = ("review", "ask", "answer", "title")


def load(max_per_file: int) -> list[str]:
    out: list[str] = []
    for path in sorted(glob.glob("/work/shared/data/tickets/*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if i >= max_per_file:
                    break
                out.extend(row[c] for c in TEXT_COLUMNS if row.get(c))
    return out


def run(name: str, fn: Callable[[str], object], docs: list[str], chars: int) -> float:
    fn(docs[0])
    t0 = time.perf_counter()
    for d in docs:
        fn(d)
    dt = time.perf_counter() - t0
    print(f"{name:34s} {chars / dt / 1e6:7.3f} Mchar/s {len(docs) / dt:10.0f} docs/s")
    return chars / dt


def main() -> None:
    import jieba
    import rjieba

    from analyzers import Analyzer, AnalyzerConfig, warm_up

    max_per_file = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    docs = load(max_per_file)
    chars = sum(map(len, docs))
    print(f"{len(docs)} docs, {chars} chars")
    jieba.setLogLevel(60)
    ref = jieba.Tokenizer()
    ref.initialize()
    rj = rjieba.Jieba()
    warm_up()
    analyzer = Analyzer(AnalyzerConfig(user_words=("Apple Watch", "冯·诺伊曼", "5W-30", "PayPal")))

    r_jieba = run("jieba lcut_for_search (HMM off)", lambda t: ref.lcut_for_search(t, HMM=False), docs, chars)
    r_rj = run("rjieba cut_for_search (HMM off)", lambda t: rj.cut_for_search(t, False), docs, chars)
    r_an = run("Analyzer.analyze_index", analyzer.analyze_index, docs, chars)
    r_q = run("Analyzer.analyze_query", analyzer.analyze_query, docs, chars)
    print(f"rjieba / jieba            = {r_rj / r_jieba:6.1f}x")
    print(f"analyze_index / rjieba    = {r_an / r_rj:6.1%}")
    print(f"analyze_index / jieba     = {r_an / r_jieba:6.1f}x")
    print(f"analyze_query / rjieba    = {r_q / r_rj:6.1%}")
    for hmm in (False, True):
        same = sum(ref.lcut(t, HMM=hmm) == rj.cut(t, hmm) for t in docs)
        print(f"parity jieba vs rjieba plain cut HMM {'on ' if hmm else 'off'}: {same}/{len(docs)} = "
              f"{same / len(docs):.2%}")


if __name__ == "__main__":
    main()
