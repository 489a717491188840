"""Time medspaCy's rule pipeline over notes; executed by medspaCy's own venv (no clinnlp import).

Pipeline: ``medspacy.load()`` (medspaCy tokenizer, PyRuSH sentences, target matcher, ConText)
plus its sectionizer, with the target matcher given literal rules (``{"literal", "category"}``
per line of RULES.jsonl; the benchmark passes clinnlp's lexicon terms, so both tools look
for the same vocabulary). Prints one JSON line: documents, seconds, documents/s, mentions,
peak RSS (MB). Model building is not timed.

Usage: ``python medspacy_batch_runner.py NOTES.jsonl RULES.jsonl``
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main(argv: list[str]) -> None:
    import medspacy
    from medspacy.target_matcher import TargetRule

    notes_path, rules_path = argv[0], argv[1]
    with open(notes_path, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    with open(rules_path, encoding="utf-8") as handle:
        rules = [json.loads(line) for line in handle if line.strip()]
    nlp = medspacy.load(medspacy_enable=["medspacy_pyrush", "medspacy_target_matcher", "medspacy_context", "medspacy_sectionizer"])
    nlp.get_pipe("medspacy_target_matcher").add([TargetRule(r["literal"], r["category"]) for r in rules])
    nlp(texts[0])  # warm-up outside the clock
    started = time.perf_counter()
    mentions = 0
    for doc in nlp.pipe(texts, batch_size=32):
        mentions += len(doc.ents)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"documents": len(texts), "seconds": seconds, "mentions": mentions, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
