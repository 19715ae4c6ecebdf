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
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import polymodal as pm
from common import load_average, machine, write_section
from polymodal.data.recipes import build
from polymodal.paths import data_home, home

IMAGE_ATTRS = ["shape", "color", "size", "position"]
VIDEO_ATTRS = ["shape", "color", "motion"]
# Data sets: recipe and knobs. `shapes` here has one shape per scene: in the recipe's default (30% of scenes with
# a second shape) the labels describe the *upper* shape, which no caption says, so a generator cannot know which
# of the two named shapes to draw on top; `shapes-mixed` (the default build) measures that case separately.
DATA = {"shapes": ("shapes", {"two_shape_fraction": 0.0}), "shapes-mixed": ("shapes", {}), "openmoji": ("openmoji", {})}
IMAGE = {"task": "text-to-image", "prompt": "caption", "target": "image", "attributes": IMAGE_ATTRS,
         "features": True}
SHAPES_IMAGE = {"data": "shapes", **IMAGE}
SHAPES_VIDEO = {"data": "shapes", "task": "text-to-video", "prompt": "video_caption", "target": "video",
                "attributes": VIDEO_ATTRS, "features": False}
SHAPES_AUDIO = {"data": "shapes", "task": "text-to-audio", "prompt": "caption", "target": "audio",
                "attributes": IMAGE_ATTRS, "features": False}
EMOJI = {**IMAGE, "data": "openmoji", "attributes": []}
GAN = {"model": "cgan", "epochs": 300}
VAE = {"model": "cvae", "epochs": 200}

# name -> (setting, Generator options), in the order they run (the most wanted first).
CONFIGS: dict[str, tuple[dict, dict]] = {
    "shapes-image-cvae": (SHAPES_IMAGE, VAE),
    "shapes-image-cgan": (SHAPES_IMAGE, GAN),
    "openmoji-cvae": (EMOJI, {"model": "cvae", "epochs": 100}),
    "openmoji-cgan": (EMOJI, {"model": "cgan", "epochs": 100}),
    "openmoji-unconditional": (EMOJI, {"model": "unconditional", "epochs": 100}),
    "shapes-audio-cvae": (SHAPES_AUDIO, {"model": "cvae", "epochs": 60}),
    "shapes-video-cvae": (SHAPES_VIDEO, {"model": "cvae", "epochs": 40}),
    "shapes-mixed-image-cvae": ({**SHAPES_IMAGE, "data": "shapes-mixed"}, VAE),
    "shapes-mixed-image-cgan": ({**SHAPES_IMAGE, "data": "shapes-mixed"}, GAN),
    "shapes-image-unconditional": (SHAPES_IMAGE, {**GAN, "model": "unconditional"}),
    "shapes-audio-cgan": (SHAPES_AUDIO, {"model": "cgan", "epochs": 60}),
    "shapes-video-cgan": (SHAPES_VIDEO, {"model": "cgan", "epochs": 40}),
    "shapes-image64-cvae": (SHAPES_IMAGE, {"model": "cvae", "epochs": 60, "image_size": 64}),
}
COMMON = {"width": 16, "batch_size": 64, "seed": 0}


def table_path(data: str) -> Path:
    recipe, knobs = DATA[data]
    return build(recipe, data_home() / ("shapes-single" if data == "shapes" else recipe), **knobs)


def run_one(name: str, work: Path, threads: int) -> dict:
    setting, options = CONFIGS[name]
    table = table_path(setting["data"])
    torch.set_num_threads(threads)
    run = work / "runs" / name
    pointer = run / "checkpoints" / "checkpoint.json"  # an interrupted fit of an earlier call
    resumed = json.loads(pointer.read_text())["epoch"] + 1 if pointer.exists() else 0
    load_before = load_average()
    started = time.perf_counter()
    g = pm.Generator(setting["task"], prompt=setting["prompt"], target=setting["target"], evaluate_after_fit=False,
                     **{**COMMON, **options})
    # an interrupted fit continues from its last epoch; a finished one is measured again from scratch
    g.fit(table, out=run, resume=pointer.exists(), overwrite=not pointer.exists())
    fit_seconds = time.perf_counter() - started
    metrics = g.evaluate(table, attributes=setting["attributes"], features=setting["features"])
    return {"name": name, "data": setting["data"], "task": setting["task"], **COMMON, **options,
            "text_encoder": options.get("text_encoder", "minilm"), "image_size": g.image_size,
            "fit_seconds": round(fit_seconds, 1), "train_seconds": round(g.train_seconds_, 1),
            "steps": len(g.history_) * (g.split_sizes_["train"] // min(g.batch_size, g.split_sizes_["train"])),
            "threads": threads, "load_before": load_before, "load_after": load_average(), "resumed_at_epoch": resumed,
            "metrics": metrics}


def reevaluate(name: str, work: Path, threads: int, target: Path) -> None:
    """Evaluate a finished configuration's saved run again (after a change to the evaluation) and replace
    its metrics; the training figures stay those of its fit."""
    setting, _ = CONFIGS[name]
    torch.set_num_threads(threads)
    g = pm.load(work / "runs" / name)
    metrics = g.evaluate(table_path(setting["data"]), attributes=setting["attributes"], features=setting["features"])
    result = {**json.loads(target.read_text()), "metrics": metrics, "reevaluated": time.strftime("%Y-%m-%d")}
    save_result(result, target)


def save_result(result: dict, target: Path) -> None:
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    tmp.replace(target)  # atomic: a result file is whole or absent


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _minutes(r: dict) -> str:
    return f"{r.get('train_seconds', r['fit_seconds']) / 60:.1f}"


def shapes_table(results: list[dict], data: str, task: str, attributes: list[str]) -> str:
    head = ["model", "px", *attributes, "mean", "diversity within / real", "collapse?", "epochs (steps)",
            "train (min)", "load avg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    reader = None
    for r in results:
        if r["task"] != task or r["data"] != data:
            continue
        m = r["metrics"]
        reader = reader or [m.get(f"reader_real_accuracy_{a}") for a in attributes]
        div = f"{fmt(m.get('diversity_within_prompt'))} / {fmt(m.get('real_diversity_within_prompt'))}"
        lines.append("| " + " | ".join([r["model"], str(r["image_size"]),
                                        *[fmt(m.get(f"attribute_accuracy_{a}")) for a in attributes],
                                        fmt(m.get("attribute_accuracy_mean")), div, fmt(m.get("collapse_suspected")),
                                        f"{r['epochs']} ({r['steps']})", _minutes(r),
                                        r["load_before"].split()[-1]]) + " |")
    if reader is None:
        return "(not run yet)"
    lines.append("| real test files (reader check) | — | " + " | ".join(fmt(v) for v in reader) + " | | | | | | |")
    return "\n".join(lines)


def emoji_table(results: list[dict]) -> str:
    head = ["model", "Fréchet (EfficientNet-Lite0)", "real-vs-real floor", "Fréchet, all rows", "R-precision",
            "real R-precision", "chance", "diversity within", "diversity across (real)", "epochs (steps)",
            "train (min)", "load avg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = [r for r in results if r["data"] == "openmoji"]
    for r in rows:
        m = r["metrics"]
        lines.append("| " + " | ".join([r["model"], fmt(m.get("frechet_efficientnet_lite0"), 1),
                                        fmt(m.get("frechet_efficientnet_lite0_real_halves"), 1),
                                        fmt(m.get("frechet_efficientnet_lite0_all_rows"), 1),
                                        fmt(m.get("r_precision")), fmt(m.get("r_precision_real")),
                                        fmt(m.get("r_precision_chance")), fmt(m.get("diversity_within_prompt")),
                                        f"{fmt(m.get('diversity_across_prompts'))} "
                                        f"({fmt(m.get('real_diversity_across_prompts'))})",
                                        f"{r['epochs']} ({r['steps']})", _minutes(r),
                                        r["load_before"].split()[-1]]) + " |")
    return "\n".join(lines) if rows else "(not run yet)"


def features_line(results: list[dict], data: str) -> str:
    rows = [r for r in results if r["data"] == data and r["task"] == "text-to-image"
            and r["metrics"].get("frechet_efficientnet_lite0") is not None]
    if not rows:
        return ""
    m0 = rows[0]["metrics"]
    return ("EfficientNet-Lite0 Fréchet distance / R-precision: " + "; ".join(
        f"{r['model']} ({r['image_size']} px) {fmt(r['metrics']['frechet_efficientnet_lite0'], 1)} / "
        f"{fmt(r['metrics'].get('r_precision'))}" for r in rows)
        + f" (real halves {fmt(m0.get('frechet_efficientnet_lite0_real_halves'), 1)}, real images' R-precision "
        f"{fmt(m0.get('r_precision_real'))}, chance {fmt(m0.get('r_precision_chance'))}).")


def audio_line(results: list[dict]) -> str:
    audio = [r for r in results if r["task"] == "text-to-audio"]
    if not audio:
        return ""
    return ("Log-mel distance (mean |difference| of natural-log mel power) of each generated clip to the real clips "
            "of its prompt, and to a real clip of another prompt: " + "; ".join(
                f"{r['model']} {fmt(r['metrics'].get('spectral_distance_same_prompt'))} vs "
                f"{fmt(r['metrics'].get('spectral_distance_other_prompt'))}" for r in audio)
            + f"; real clips of one prompt among themselves "
            f"{fmt(audio[0]['metrics'].get('real_spectral_distance_same_prompt'))}.")


def resumed_line(results: list[dict]) -> str:
    """Fits that continued from an earlier call's checkpoint: their training time spans both calls (and the
    load of both), while `load avg` is the one at the last start."""
    resumed = [r for r in results if r.get("resumed_at_epoch")]
    return ("Resumed fits (training time summed over the calls; earlier epochs ran under other load): " + "; ".join(
        f"{r['name']} at epoch {r['resumed_at_epoch']} of {r['epochs']}" for r in resumed) + ".") if resumed else ""


def section(results: list[dict]) -> str:
    facts = machine()
    threads = sorted({str(r["threads"]) for r in results}) or ["?"]
    parts = [
        "## Generation (text-to-image, text-to-video, text-to-audio)",
        f"Machine: {facts['cpu']}, {facts['cores']} cores shared with other jobs (the load average at the start of "
        f"each fit is in the tables), torch {facts['torch']} with {'/'.join(threads)} intra-op thread(s). Command: "
        "`.venv/bin/python benchmarks/bench_generate.py` (resumable: finished configurations are kept in "
        "`$POLYMODAL_HOME/benchmarks/generate/results/`, an interrupted fit continues from its last epoch). One run "
        f"per configuration, seed 0 (GAN training is not cheap enough here for medians of several); shared settings "
        f"{COMMON}; every model generates 32x32 unless the table says otherwise, prompts embedded by MiniLM.",
        "Attribute accuracy: a classifier (scratch CNN) trained on the real training files reads each attribute of "
        "one generated sample per test-split prompt (300 prompts; written to PNG, GIF or WAV first, audio through "
        "Griffin-Lim). The last row of each table is that classifier on the real test files: an attribute is scored "
        "only when it reaches 0.9 there. Diversity: mean pairwise RMS distance between 8 samples of one prompt (16 "
        "prompts), against real rows sharing a prompt; `collapse?` flags a ratio under 0.2. `train` is the training "
        "loop alone (the fit also embeds the prompts and writes sample grids).",
        "### shapes, text-to-image (target: shape and colour >= 0.90)",
        "One shape per scene (`two_shape_fraction=0`), 2000 rows (1400 train), 64 px files read at 32 px.",
        shapes_table(results, "shapes", "text-to-image", IMAGE_ATTRS),
        features_line(results, "shapes"),
        "### shapes with two-shape scenes (the recipe's default), text-to-image",
        "30% of scenes hold a second shape; the labels describe the upper one, and the caption names it first "
        "(\"a small red square on the right and a large blue circle in the center\"), a convention the generator "
        "must learn from the pixels.",
        shapes_table(results, "shapes-mixed", "text-to-image", IMAGE_ATTRS),
        "### shapes, text-to-video (8 frames of 32x32, prompt \"a red circle moving right\")",
        shapes_table(results, "shapes", "text-to-video", VIDEO_ATTRS),
        "### shapes, text-to-audio (64x64 log-mel -> Griffin-Lim -> WAV)",
        "The recipe sonifies a scene: pitch from the shape, timbre from the colour, length from the size, onset "
        "from the position.",
        shapes_table(results, "shapes", "text-to-audio", IMAGE_ATTRS),
        audio_line(results),
        "### openmoji, text-to-image (32x32; test prompts are emojis never seen in training)",
        "Fréchet distance in the EfficientNet-Lite0 feature space (1280-d; not FID, which means Inception "
        "features): the test rows are split in two halves; the floor compares the real second half with the real "
        "first half, the generator's figure compares images generated for the second half's prompts with the same "
        "real first half, so both use one sample size. With fewer samples than feature dimensions the estimate is "
        "biased upward, more so the fewer the samples: `all rows` (every generated image against every real one) "
        "is smaller for that reason alone and is not comparable with the floor. R-precision: the prompt of each "
        "generated image ranked against 99 other test prompts by an alignment model (`Aligner`) trained on the "
        "real training pairs; real images' R-precision is that model's own ceiling.",
        emoji_table(results),
        resumed_line(results),
    ]
    return "\n\n".join(p for p in parts if p)


def results_dir_of(work: Path) -> Path:
    return work / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="run just these configurations")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: on a shared "
                        "2-core machine two threads spent more time waiting on each other than computing)")
    parser.add_argument("--work", type=Path, default=home() / "benchmarks" / "generate",
                        help="runs and per-configuration results (default: $POLYMODAL_HOME/benchmarks/generate)")
    parser.add_argument("--reevaluate", nargs="+", default=[], choices=sorted(CONFIGS), metavar="NAME",
                        help="evaluate these finished configurations' saved runs again (after a change to the "
                        "evaluation) before running the rest")
    args = parser.parse_args()
    if missing := [n for n in args.reevaluate if not (results_dir_of(args.work) / f"{n}.json").exists()]:
        parser.error(f"--reevaluate: not finished yet: {', '.join(missing)}")
    results_dir = results_dir_of(args.work)
    results_dir.mkdir(parents=True, exist_ok=True)
    for name in args.reevaluate:
        print(f"== evaluating {name} again ({load_average()})", flush=True)
        reevaluate(name, args.work, args.threads, results_dir / f"{name}.json")
    for name in args.only or list(CONFIGS):
        target = results_dir / f"{name}.json"
        if target.exists():
            continue
        print(f"== {name} ({load_average()})", flush=True)
        result = run_one(name, args.work, args.threads)
        save_result(result, target)
        print(json.dumps({k: v for k, v in result.items() if k != "metrics"}), flush=True)
    results = [json.loads((results_dir / f"{n}.json").read_text()) for n in CONFIGS
               if (results_dir / f"{n}.json").exists()]
    write_section("generate", section(results))
    print("BENCHMARKS.md section 'generate' written", flush=True)


if __name__ == "__main__":
    main()
