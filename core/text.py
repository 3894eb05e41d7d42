"""Facts about text that every layer shares (the pilots, retrieval and the cost model):
the answer a question-answering system gives when the documents hold none, how many
characters a token is taken to be where no tokenizer counts, and chrF."""

from __future__ import annotations

import re
from collections import Counter

NO_ANSWER = "not in the documents"  # what a QA system must say when the answer is not there

# Characters per token where nothing counts tokens (a server that omits usage, the
# preflight before any model is loaded, a corpus priced for re-indexing). Measured with
# SmolLM2's tokenizer on the demo files: 3.9 to 4.3 characters a token (the support
# intents 4.04, the summaries 3.86, the policy questions 4.26, the policy documents 3.77).
CHARS_PER_TOKEN = 4.0


def _ngrams(text: str, n: int) -> Counter:
    s = re.sub(r"\s+", " ", text.strip())
    return Counter(s[i : i + n] for i in range(len(s) - n + 1))


def chrf(pred: str, ref: str, max_n: int = 6, beta: float = 2.0) -> float:
    """chrF (Popović 2015): character n-gram F-beta averaged over n = 1..6, in 0..1."""
    scores = []
    for n in range(1, max_n + 1):
        p, r = _ngrams(pred, n), _ngrams(ref, n)
        if not p or not r:
            continue
        overlap = sum((p & r).values())
        prec, rec = overlap / sum(p.values()), overlap / sum(r.values())
        if prec + rec == 0:
            scores.append(0.0)
            continue
        scores.append((1 + beta**2) * prec * rec / (beta**2 * prec + rec))
    return sum(scores) / len(scores) if scores else 0.0
