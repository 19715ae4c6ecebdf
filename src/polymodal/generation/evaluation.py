"""Objective evaluation of a Generator on a table's held-out prompts (the test split, else val).
One sample is generated for every held-out row, from its prompt, and written to a file.

- attributes: readers trained on the real training rows (readers.py) read the table's categorical
  attributes from each generated file; an attribute counts only when its reader reads it from the
  held-out *real* files, as they are and perturbed (perturb.py), with at least 90% accuracy (all
  three numbers are reported).
- diversity: mean pairwise distance of samples for the same prompt and across prompts, in the
  model's output space, next to the same numbers for real rows: a collapsed model makes the same
  sample whatever its noise (within-prompt diversity near 0).
- images: the Fréchet distance between real and generated images in the EfficientNet-Lite0
  feature space (the FID's formula on other features, so not called FID), with the distance
  between two halves of the real rows as the noise floor at this sample size; R-precision
  (Xu et al. 2018) of generated and of real images against their prompts, using an `Aligner`
  trained on the real training pairs. Real images are scored at the generator's resolution.
- audio: log-mel distance of each generated clip to the real clips of the same prompt, against
  real clips of other prompts and against real clips of the same prompt among themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.text import normalize_text
from ..metrics.generation import frechet_with_floor, mean_pairwise_distance, r_precision
from ..runs.figures import where_from
from .readers import READER_STEPS, TRUST, AttributeReader, default_attributes, real_paths, scratch_folder, write_samples

DIVERSITY_PROMPTS = 16
DIVERSITY_SAMPLES = 8
COLLAPSE_RATIO = 0.2  # within-prompt diversity under 20% of the real one: the model ignores its noise
R_CANDIDATES = 100


def evaluate_generator(g, data, *, attributes: list[str] | None = None, aligner=None, features: bool = True,
                       seed: int = 0, max_rows: int | None = None, reader_steps: int = READER_STEPS) -> dict:
    """Metrics (JSON-able) of samples generated for the held-out prompts of `data`. `attributes`: the
    columns to read (default: the categorical columns the prompts state); `features=False` skips the
    Fréchet distance and R-precision of images (they need EfficientNet-Lite0 and an alignment model);
    `aligner`: an Aligner of the target and prompt columns to use instead of training one; `max_rows`:
    judge only the first held-out prompts; `reader_steps`: the attribute readers' training batches (a
    reader that reads too few held-out real files right is not trusted, whatever its length)."""
    table, parts = g._read(data, None)
    split = "test" if len(parts["test"]) else "val" if len(parts["val"]) else "train"
    rows = parts[split][:max_rows]
    prompts = [normalize_text(str(t)) for t in table.df[g.prompt].iloc[rows]]
    # the generator trains on its train rows only; its validation rows choose nothing (no early stopping)
    metrics: dict = {"eval_split": split, "eval_rows": len(rows), "notes": [],
                     "estimate": where_from(split, len(rows), chose="")}
    metrics.update(diversity(g, table, rows, prompts))
    samples = torch.cat([g.generate(prompts[i:i + 128], n=1, seed=seed + i) for i in range(0, len(prompts), 128)])
    cache = _cache_dir(g)
    with scratch_folder() as tmp:
        paths = write_samples(g, samples, Path(tmp))
        wanted = g.attributes if attributes is None and g.attributes is not None else attributes
        names = wanted if wanted is not None else default_attributes(table, g.prompt, [g.target_column])
        if names:
            metrics.update(attribute_metrics(g, table, parts, rows, paths, names, cache, metrics["notes"],
                                             steps=reader_steps))
        if g.output_role == "image" and features:
            metrics.update(image_metrics(g, table, parts, rows, paths, prompts, aligner, cache))
        if g.output_role == "audio":
            metrics.update(spectral_metrics(g, table, rows, prompts, paths))
    return metrics


def _cache_dir(g) -> Path:
    """Readers and alignments depend on the table only (their keys hash its files and values), so every
    generator evaluated on the same table shares them."""
    from ..paths import home

    return home() / "evaluators"


def attribute_metrics(g, table, parts, rows, paths, names, cache, notes: list[str], *, steps: int) -> dict:
    """Per attribute: the reader's accuracy on held-out real files, as they are and perturbed, and on the
    generated ones (scored only when both real accuracies reach `TRUST`)."""
    from .perturb import write_perturbed

    reader = AttributeReader.train(g, table, parts, names, cache=cache, steps=steps)
    truth = table.df[names].iloc[rows].reset_index(drop=True)
    real_files = real_paths(table, g.target_column, g.output_role, rows)
    real = reader.accuracy(real_files, truth)
    perturbed = reader.accuracy(write_perturbed(g, real_files, Path(paths[0]).parent / "perturbed", seed=2), truth)
    generated = reader.accuracy(paths, truth)
    out = {}
    for name in names:
        out[f"reader_real_accuracy_{name}"] = real[name]
        out[f"reader_perturbed_accuracy_{name}"] = perturbed[name]
        if min(real[name], perturbed[name]) >= TRUST:
            out[f"attribute_accuracy_{name}"] = generated[name]
        else:
            notes.append(f"Attribute `{name}` is not scored: the reader reads it from only {real[name]:.0%} of the "
                         f"held-out real {g.output_role} files ({perturbed[name]:.0%} once perturbed; it must "
                         f"reach {TRUST:.0%} in both).")
    trusted = [out[f"attribute_accuracy_{n}"] for n in names if f"attribute_accuracy_{n}" in out]
    if trusted:
        out["attribute_accuracy_mean"] = float(np.mean(trusted))
    return out


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


# ---------------------------------------------------------------- images: Fréchet distance, R-precision
def _efficientnet_features(paths: list[Path]) -> np.ndarray:
    """EfficientNet-Lite0 pooled features of image files, computed directly (generated files are not
    worth keeping in the feature cache)."""
    from ..encoders.base import build_encoder
    from ..encoders.onnx_runtime import fast_forward

    encoder = build_encoder("efficientnet-lite0")
    loader, fast = encoder.loader(), fast_forward(encoder)
    return np.concatenate([fast(torch.stack([loader(p) for p in paths[i:i + 64]]))
                           for i in range(0, len(paths), 64)])


def image_metrics(g, table, parts, rows, paths, prompts, aligner, cache) -> dict:
    """Real images are brought to the generator's resolution and written as PNG, as the generated
    ones are: the distance then measures content, not the missing pixels of a small output."""
    folder = Path(paths[0]).parent / "real"
    real_files = write_samples(g, g.medium_.output(g.load_targets(table, rows)), folder)
    real, fake = _efficientnet_features(real_files), _efficientnet_features(paths)
    out = {}
    if len(real) >= 4:
        fd = frechet_with_floor(real, fake)
        out = {"frechet_efficientnet_lite0": fd["generated"], "frechet_efficientnet_lite0_real_halves": fd["floor"],
               "frechet_efficientnet_lite0_all_rows": fd["full"], "frechet_samples": fd["samples"]}
    aligner = aligner or _aligner(g, table, parts, cache)
    texts = list(dict.fromkeys(prompts))
    if len(texts) < 2:
        return out
    index = {t: i for i, t in enumerate(texts)}
    true = np.array([index[p] for p in prompts])
    text_z = aligner.embed(g.prompt, texts)
    image_col = g.target_column
    z_fake = aligner.embed_inputs(image_col, torch.from_numpy(fake)).numpy()
    z_real = aligner.embed_inputs(image_col, torch.from_numpy(real)).numpy()
    r = min(R_CANDIDATES, len(texts))
    out.update({"r_precision": r_precision(z_fake @ text_z.T, true, r=r),
                "r_precision_real": r_precision(z_real @ text_z.T, true, r=r),
                "r_precision_chance": 1.0 / r, "r_precision_candidates": r})
    return out


def _aligner(g, table, parts, cache):
    """An image-prompt alignment trained on the real training rows (cached beside the readers)."""
    from ..alignment.aligner import Aligner
    from .readers import _key

    key = _key(table, g.target_column, parts["train"], [g.prompt], "aligner", "image")
    folder = cache / f"aligner-{key}" if cache is not None else None
    if folder is not None and (folder / "polymodal.json").exists():
        return Aligner.load(folder)
    image = g.target_column
    df = pd.DataFrame({image: [str(p) for p in real_paths(table, image, "image", parts["train"])],
                       g.prompt: table.df[g.prompt].iloc[parts["train"]].astype(str).to_numpy()})
    a = Aligner([image, g.prompt], overrides={image: "image", g.prompt: "text"}, progress=False, seed=0)
    return a.fit(df, out=folder)


# ---------------------------------------------------------------- audio: spectral distance
def _log_mels(paths: list[Path], seconds: float) -> np.ndarray:
    from ..data.audio import AudioLoader

    loader = AudioLoader(seconds=seconds)
    return np.stack([loader(p).numpy() for p in paths])


def spectral_metrics(g, table, rows, prompts, paths) -> dict:
    """Mean absolute log-mel difference (natural-log power, 64 bands) of each generated clip to the real
    clips of its prompt, to a real clip of another prompt, and of real clips of one prompt to each other."""
    everyone = np.arange(len(table))
    all_prompts = [normalize_text(str(t)).lower() for t in table.df[g.prompt]]
    real = _log_mels(real_paths(table, g.target_column, "audio", everyone), float(g.seconds))
    fake = _log_mels(paths, float(g.seconds))
    by_prompt = pd.Series(everyone).groupby(pd.Series(all_prompts)).indices
    rng = np.random.default_rng(0)
    same, other, real_same = [], [], []
    for i, (row, prompt) in enumerate(zip(rows, prompts, strict=True)):
        mates = by_prompt[prompt.lower()]
        same.append(np.abs(real[mates] - fake[i]).mean())
        strangers = np.flatnonzero(np.array(all_prompts) != prompt.lower())
        if len(strangers):
            other.append(np.abs(real[rng.choice(strangers)] - fake[i]).mean())
        peers = mates[mates != row]
        if len(peers):
            real_same.append(np.abs(real[peers] - real[row]).mean())
    out = {"spectral_distance_same_prompt": float(np.mean(same))}
    if other:
        out["spectral_distance_other_prompt"] = float(np.mean(other))
    if real_same:
        out["real_spectral_distance_same_prompt"] = float(np.mean(real_same))
    return out
