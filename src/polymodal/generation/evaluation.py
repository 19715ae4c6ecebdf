"""Objective evaluation of a Generator on a table's held-out prompts (the test split, else val).

- diversity: mean pairwise distance of samples for the same prompt and across prompts, in the
  model's own output space, next to the same numbers for real rows: a collapsed model makes the
  same sample whatever the noise (within-prompt diversity near 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..data.text import normalize_text
from ..metrics.generation import mean_pairwise_distance

DIVERSITY_PROMPTS = 16
DIVERSITY_SAMPLES = 8
COLLAPSE_RATIO = 0.2  # within-prompt diversity under 20% of the real one: the model ignores its noise


def evaluate_generator(g, data, *, progress: bool = False) -> dict:
    table, parts = g._read(data, None)
    split = "test" if len(parts["test"]) else "val" if len(parts["val"]) else "train"
    rows = parts[split]
    prompts = [normalize_text(str(t)) for t in table.df[g.prompt].iloc[rows]]
    metrics: dict = {"eval_split": split, "eval_rows": len(rows), "notes": []}
    metrics.update(diversity(g, table, rows, prompts))
    return metrics


def diversity(g, table, rows: np.ndarray, prompts: list[str]) -> dict:
    """Within-prompt and across-prompt mean pairwise distances of generated and real samples."""
    distinct = list(dict.fromkeys(prompts))[:DIVERSITY_PROMPTS]
    raw = g._sample(distinct, DIVERSITY_SAMPLES, seed=1, decode=False).reshape(len(distinct), DIVERSITY_SAMPLES, -1)
    within = float(np.mean([mean_pairwise_distance(s.numpy()) for s in raw]))
    across = mean_pairwise_distance(raw[:, 0].numpy())
    real = g.medium_.scale(g.load_targets(table, rows)).flatten(1).numpy()
    groups = pd.Series(range(len(prompts))).groupby(pd.Series([p.lower() for p in prompts])).indices
    real_within = [mean_pairwise_distance(real[idx]) for idx in groups.values() if len(idx) >= 2]
    firsts = [idx[0] for idx in groups.values()][:256]
    out = {"diversity_within_prompt": within, "diversity_across_prompts": across,
           "real_diversity_across_prompts": mean_pairwise_distance(real[firsts])}
    if real_within:
        out["real_diversity_within_prompt"] = float(np.mean(real_within))
        out["collapse_suspected"] = bool(within < COLLAPSE_RATIO * out["real_diversity_within_prompt"])
    return out


@torch.no_grad()
def generate_for(g, prompts: list[str], *, seed: int = 0, batch: int = 256) -> torch.Tensor:
    """One decoded sample per prompt (prompts may repeat), deterministic for `seed`."""
    return torch.cat([g.generate(prompts[i:i + batch], n=1, seed=seed + i) for i in range(0, len(prompts), batch)])
