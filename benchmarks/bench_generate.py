"""Generation quality and training time: text-to-image, text-to-video and text-to-audio on `shapes`
(attribute accuracy read by classifiers trained on real files), text-to-image on `openmoji`
(EfficientNet-Lite0 Fréchet distance, R-precision, diversity) against an unconditional GAN.

    .venv/bin/python benchmarks/bench_generate.py                    # every configuration
    .venv/bin/python benchmarks/bench_generate.py --only shapes-image-cvae-minilm --threads 1

Each configuration fits one Generator (its run directory under --work), evaluates it on the
table's test split, and stores its numbers in WORK/results/NAME.json; a configuration whose
results exist is not run again, so an interrupted benchmark continues where it stopped. The
BENCHMARKS.md section is rebuilt from every stored result at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import polymodal as pm
from common import load_average, machine, write_section
from polymodal.data.recipes import build
from polymodal.paths import data_home

IMAGE_ATTRS = ["shape", "color", "size", "position"]
VIDEO_ATTRS = ["shape", "color", "motion"]
SHAPES_IMAGE = {"data": "shapes", "task": "text-to-image", "prompt": "caption", "target": "image",
                "attributes": IMAGE_ATTRS, "features": True}
SHAPES_VIDEO = {"data": "shapes", "task": "text-to-video", "prompt": "video_caption", "target": "video",
                "attributes": VIDEO_ATTRS, "features": False}
SHAPES_AUDIO = {"data": "shapes", "task": "text-to-audio", "prompt": "caption", "target": "audio",
                "attributes": IMAGE_ATTRS, "features": False}
EMOJI = {"data": "openmoji", "task": "text-to-image", "prompt": "caption", "target": "image", "attributes": [],
         "features": True}

# name -> (setting, Generator options). Epochs give every model about the same number of steps per data set.
CONFIGS: dict[str, tuple[dict, dict]] = {
    "shapes-image-cgan-minilm": (SHAPES_IMAGE, {"model": "cgan", "epochs": 90}),
    "shapes-image-cvae-minilm": (SHAPES_IMAGE, {"model": "cvae", "epochs": 90}),
    "shapes-image-unconditional": (SHAPES_IMAGE, {"model": "unconditional", "epochs": 90}),
    "shapes-image-cvae-gru": (SHAPES_IMAGE, {"model": "cvae", "epochs": 90, "text_encoder": "gru"}),
    "shapes-image64-cvae-minilm": (SHAPES_IMAGE, {"model": "cvae", "epochs": 45, "image_size": 64}),
    "shapes-video-cvae-minilm": (SHAPES_VIDEO, {"model": "cvae", "epochs": 60}),
    "shapes-video-cgan-minilm": (SHAPES_VIDEO, {"model": "cgan", "epochs": 60}),
    "shapes-audio-cvae-minilm": (SHAPES_AUDIO, {"model": "cvae", "epochs": 60}),
    "shapes-audio-cgan-minilm": (SHAPES_AUDIO, {"model": "cgan", "epochs": 60}),
    "openmoji-cgan": (EMOJI, {"model": "cgan", "epochs": 40}),
    "openmoji-cvae": (EMOJI, {"model": "cvae", "epochs": 40}),
    "openmoji-unconditional": (EMOJI, {"model": "unconditional", "epochs": 40}),
}
COMMON = {"width": 16, "batch_size": 64, "seed": 0}


def run_one(name: str, work: Path, threads: int) -> dict:
    setting, options = CONFIGS[name]
    table = build(setting["data"], data_home() / setting["data"])
    torch.set_num_threads(threads)
    load_before = load_average()
    started = time.perf_counter()
    g = pm.Generator(setting["task"], prompt=setting["prompt"], target=setting["target"], evaluate=False,
                     **{**COMMON, **options})
    g.fit(table, out=work / "runs" / name)
    fit_seconds = time.perf_counter() - started
    metrics = g.evaluate(table, attributes=setting["attributes"], features=setting["features"])
    return {"name": name, "data": setting["data"], "task": setting["task"], **COMMON, **options,
            "text_encoder": options.get("text_encoder", "minilm"), "image_size": g.image_size,
            "fit_seconds": round(fit_seconds, 1), "steps": sum(1 for _ in g.history_) * (
                g.split_sizes_["train"] // min(g.batch_size, g.split_sizes_["train"])),
            "threads": threads, "load_before": load_before, "load_after": load_average(), "metrics": metrics}


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def shapes_table(results: list[dict], task: str, attributes: list[str]) -> str:
    head = ["configuration", "text encoder", "px", *attributes, "mean", "diversity within / real",
            "collapse?", "fit (min)", "load avg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    reader = None
    for r in results:
        if r["task"] != task or r["data"] != "shapes":
            continue
        m = r["metrics"]
        reader = reader or [m.get(f"reader_real_accuracy_{a}") for a in attributes]
        div = f"{fmt(m.get('diversity_within_prompt'))} / {fmt(m.get('real_diversity_within_prompt'))}"
        lines.append("| " + " | ".join([r["model"], r["text_encoder"], str(r["image_size"]),
                                        *[fmt(m.get(f"attribute_accuracy_{a}")) for a in attributes],
                                        fmt(m.get("attribute_accuracy_mean")), div, fmt(m.get("collapse_suspected")),
                                        f"{r['fit_seconds'] / 60:.1f}", r["load_before"].split()[-1]]) + " |")
    if reader:
        lines.append("| real files (reader check) | — | — | " + " | ".join(fmt(v) for v in reader) + " | | | | | |")
    return "\n".join(lines)


def emoji_table(results: list[dict]) -> str:
    head = ["model", "Fréchet (EfficientNet-Lite0)", "real-vs-real floor", "R-precision", "real R-precision",
            "chance", "diversity within", "diversity across", "fit (min)", "load avg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if r["data"] != "openmoji":
            continue
        m = r["metrics"]
        lines.append("| " + " | ".join([r["model"], fmt(m.get("frechet_efficientnet_lite0"), 1),
                                        fmt(m.get("frechet_efficientnet_lite0_real_halves"), 1),
                                        fmt(m.get("r_precision")), fmt(m.get("r_precision_real")),
                                        fmt(m.get("r_precision_chance")), fmt(m.get("diversity_within_prompt")),
                                        fmt(m.get("diversity_across_prompts")), f"{r['fit_seconds'] / 60:.1f}",
                                        r["load_before"].split()[-1]]) + " |")
    return "\n".join(lines)


def section(results: list[dict]) -> str:
    facts = machine()
    shapes_image = [r for r in results if r["data"] == "shapes" and r["task"] == "text-to-image"]
    features = next((r["metrics"] for r in shapes_image if "frechet_efficientnet_lite0" in r["metrics"]), None)
    audio = [r for r in results if r["task"] == "text-to-audio"]
    parts = [
        "## Generation (text-to-image, text-to-video, text-to-audio)",
        f"Machine: {facts['cpu']}, {facts['cores']} cores shared with other jobs (the load average at the start of "
        f"each fit is in the tables), torch {facts['torch']} with {results[0]['threads'] if results else '?'} "
        "intra-op thread(s). Command: `.venv/bin/python benchmarks/bench_generate.py`. One run per configuration "
        f"(GAN training is not cheap enough here for medians of several); shared settings {COMMON}.",
        "Attribute accuracy: a classifier trained on the real training files reads each attribute of one generated "
        "sample per test-split prompt (written to PNG, GIF or WAV first; audio through Griffin-Lim). The last row "
        "of each table is that classifier on the real test files: it must reach 0.9 before it judges anything. "
        "Diversity: mean pairwise RMS distance between 8 samples of one prompt (16 prompts), against real rows "
        "sharing a prompt; `collapse?` flags a ratio under 0.2.",
        "### shapes, text-to-image (target: shape and colour >= 0.90)",
        shapes_table(results, "text-to-image", IMAGE_ATTRS),
    ]
    if features:
        parts.append("EfficientNet-Lite0 Fréchet distance / R-precision on shapes: " + "; ".join(
            f"{r['model']}-{r['text_encoder']}-{r['image_size']}px "
            f"{fmt(r['metrics'].get('frechet_efficientnet_lite0'), 1)} / {fmt(r['metrics'].get('r_precision'))}"
            for r in shapes_image) +
            f" (real halves {fmt(features.get('frechet_efficientnet_lite0_real_halves'), 1)}, real R-precision "
            f"{fmt(features.get('r_precision_real'))}, chance {fmt(features.get('r_precision_chance'))}).")
    parts += ["### shapes, text-to-video (8 frames of 32x32)", shapes_table(results, "text-to-video", VIDEO_ATTRS),
              "### shapes, text-to-audio (log-mel -> Griffin-Lim -> WAV)",
              shapes_table(results, "text-to-audio", IMAGE_ATTRS)]
    if audio:
        parts.append("Log-mel distance (mean |difference| of natural-log mel power) of generated clips: " + "; ".join(
            f"{r['model']}: same prompt {fmt(r['metrics'].get('spectral_distance_same_prompt'))}, other prompt "
            f"{fmt(r['metrics'].get('spectral_distance_other_prompt'))}" for r in audio) +
            f"; real clips of one prompt among themselves "
            f"{fmt(audio[0]['metrics'].get('real_spectral_distance_same_prompt'))}.")
    parts += ["### openmoji, text-to-image (32x32; test prompts are emojis never seen in training)",
              emoji_table(results)]
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="run just these configurations")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: on a shared "
                        "2-core machine two threads spent more time waiting on each other than computing)")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("BENCH_WORK", "bench-generate")))
    args = parser.parse_args()
    results_dir = args.work / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(CONFIGS):
        target = results_dir / f"{name}.json"
        if target.exists():
            continue
        print(f"== {name} ({load_average()})", flush=True)
        result = run_one(name, args.work, args.threads)
        target.write_text(json.dumps(result, indent=1, default=str))
        print(json.dumps({k: v for k, v in result.items() if k != "metrics"}), flush=True)
    results = [json.loads((results_dir / f"{n}.json").read_text()) for n in CONFIGS
               if (results_dir / f"{n}.json").exists()]
    write_section("generate", section(results))
    print("BENCHMARKS.md section 'generate' written", flush=True)


if __name__ == "__main__":
    main()
