"""Caption metrics: corpus BLEU-1..4, CIDEr-D and exact match, over any number of references.

- BLEU (Papineni et al. 2002): modified (clipped) n-gram precisions pooled over the whole
  corpus, their geometric mean up to order N, times the brevity penalty exp(1 - r/c) when the
  candidates' total length c is below the effective reference length r (per candidate, the
  reference length closest to its own; the shorter on a tie). Unsmoothed, as in the paper: a
  corpus without a single matching n-gram of some order scores 0. `smooth=True` adds one to
  the counts of orders above 1 (Lin & Och 2004), for the per-epoch monitor where a young model
  has no 4-gram yet.
- CIDEr-D (Vedantam et al. 2015): per order n = 1..4, the cosine between TF-IDF weighted
  n-gram vectors of the candidate and of each reference, where the candidate's weights are
  clipped by the reference's, times a Gaussian penalty exp(-(l_c - l_r)^2 / (2 sigma^2)) on
  the difference in length (sigma = 6); averaged over orders and references, times 10, then
  averaged over items. Term frequencies are raw counts and document frequencies count the
  items whose references hold the n-gram, as in the authors' reference implementation
  (coco-caption), so the IDF comes from the evaluated set itself.
- Exact match: the share of candidates equal to one of their references after `words`.

Texts are compared as `words(text)`: lower case, punctuation split off, white space collapsed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..errors import PolymodalError

_WORD = re.compile(r"\w+|[^\w\s]")
CIDER_SIGMA = 6.0


def words(text: str) -> list[str]:
    """The tokens every metric compares: lower-cased words and single punctuation marks."""
    return _WORD.findall(str(text).lower())


def ngrams(tokens: Sequence, n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _as_tokens(texts: Sequence) -> list[list]:
    """Strings become `words`; token sequences (lists of words or ids) are kept as they are."""
    return [words(t) if isinstance(t, str) else list(t) for t in texts]


def _check(candidates: Sequence, references: Sequence[Sequence]) -> None:
    if len(candidates) != len(references):
        raise PolymodalError(f"need one list of references per candidate, got {len(candidates)} candidates "
                             f"and {len(references)} reference lists")
    empty = [i for i, refs in enumerate(references) if len(refs) == 0]
    if empty:
        raise PolymodalError(f"candidate {empty[0]} has no reference caption ({len(empty)} such candidates)")


def _closest_length(length: int, refs: list[list]) -> int:
    return min((abs(len(r) - length), len(r)) for r in refs)[1]


def bleu(candidates: Sequence, references: Sequence[Sequence], max_n: int = 4, *,
         smooth: bool = False) -> dict[str, float]:
    """Corpus BLEU-1..`max_n` ({"bleu_1": ..., "bleu_4": ...}) of candidates against their references.

    Each candidate is a string or a token sequence; `references[i]` lists candidate i's references."""
    _check(candidates, references)
    hyps = _as_tokens(candidates)
    refs = [_as_tokens(r) for r in references]
    matched, total = np.zeros(max_n), np.zeros(max_n)
    hyp_len = ref_len = 0
    for hyp, rs in zip(hyps, refs, strict=True):
        hyp_len += len(hyp)
        ref_len += _closest_length(len(hyp), rs)
        for n in range(1, max_n + 1):
            counts = ngrams(hyp, n)
            most = Counter()
            for r in rs:
                most |= ngrams(r, n)  # union = the largest count of each n-gram in any one reference
            matched[n - 1] += sum(min(c, most[g]) for g, c in counts.items())
            total[n - 1] += max(len(hyp) - n + 1, 0)
    if smooth:
        matched[1:] += 1
        total[1:] += 1
    brevity = 0.0 if hyp_len == 0 else (1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len))
    out, log_sum = {}, 0.0
    for n in range(1, max_n + 1):
        p = matched[n - 1] / total[n - 1] if total[n - 1] else 0.0
        log_sum = log_sum + math.log(p) if p > 0 and log_sum > -math.inf else -math.inf
        out[f"bleu_{n}"] = float(brevity * math.exp(log_sum / n)) if log_sum > -math.inf else 0.0
    return out


def _tfidf(counts: Counter, df: Counter, log_items: float) -> tuple[dict, np.ndarray, int]:
    """Weights of every n-gram (raw count * IDF), the norm per order, and the length in words."""
    vec, norms = {}, np.zeros(4)
    for gram, count in counts.items():
        vec[gram] = count * (log_items - math.log(max(1.0, df[gram])))
        norms[len(gram) - 1] += vec[gram] ** 2
    length = sum(c for g, c in counts.items() if len(g) == 1)
    return vec, np.sqrt(norms), length


def _cider_pair(hyp: tuple, ref: tuple) -> float:
    (vh, nh, lh), (vr, nr, lr) = hyp, ref
    per_order = np.zeros(4)
    for gram, weight in vh.items():
        per_order[len(gram) - 1] += min(weight, vr.get(gram, 0.0)) * vr.get(gram, 0.0)
    nonzero = (nh > 0) & (nr > 0)
    per_order[nonzero] /= nh[nonzero] * nr[nonzero]
    per_order *= math.exp(-((lh - lr) ** 2) / (2 * CIDER_SIGMA ** 2))
    return float(per_order.mean())


def _all_ngrams(tokens: list) -> Counter:
    out = Counter()
    for n in range(1, 5):
        out.update(ngrams(tokens, n))
    return out


def cider_d(candidates: Sequence, references: Sequence[Sequence]) -> dict[str, float | list[float]]:
    """Corpus CIDEr-D ({"cider_d": mean, "per_item": [...]}) with IDF from these references."""
    _check(candidates, references)
    hyps = [_all_ngrams(h) for h in _as_tokens(candidates)]
    refs = [[_all_ngrams(r) for r in _as_tokens(rs)] for rs in references]
    df = Counter()
    for rs in refs:
        df.update(set().union(*rs))  # an n-gram counts once per item, however many references hold it
    log_items = math.log(float(len(refs))) if refs else 0.0
    scores = []
    for hyp, rs in zip(hyps, refs, strict=True):
        h = _tfidf(hyp, df, log_items)
        scores.append(10.0 * float(np.mean([_cider_pair(h, _tfidf(r, df, log_items)) for r in rs])))
    return {"cider_d": float(np.mean(scores)) if scores else 0.0, "per_item": scores}


def exact_match(candidates: Sequence, references: Sequence[Sequence]) -> float:
    """Share of candidates whose words equal the words of one of their references."""
    _check(candidates, references)
    if not candidates:
        return 0.0
    hits = [any(h == r for r in _as_tokens(rs)) for h, rs in zip(_as_tokens(candidates), references, strict=True)]
    return float(np.mean(hits))


def caption_metrics(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """BLEU-1..4, CIDEr-D, exact match and the mean length in words: one flat JSON-able dict."""
    out = bleu(candidates, references)
    out["cider_d"] = cider_d(candidates, references)["cider_d"]
    out["exact_match"] = exact_match(candidates, references)
    out["mean_length"] = float(np.mean([len(words(c)) for c in candidates])) if candidates else 0.0
    return out
