"""Captioning: both decoders against the nearest-neighbour baseline, and training time.

    python benchmarks/bench_caption.py                       # shapes and openmoji, both decoders
    python benchmarks/bench_caption.py --data shapes --epochs 10 --no-write

For each data set (built with `polymodal data build NAME`, cached), the token features are
extracted once (EfficientNet-Lite0 4x4 grid through the feature cache; the first run on a
machine computes them, later runs read them), then each decoder is fitted with the Captioner
defaults and scored on the test split with beam search (beam 3), beside the nearest-neighbour
baseline on the same inputs. Training time is the training loop's wall time (validation
included), with the captioner's one torch thread. Results go to the `caption` section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average, machine, write_section

COLUMNS = {"shapes": ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "cider_d", "exact_match", "shape_accuracy",
                      "color_accuracy", "size_accuracy", "position_accuracy", "attributes_all_accuracy"),
           "openmoji": ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "cider_d", "exact_match", "mean_length")}


def prepare(name: str) -> tuple[Path, dict]:
    """Build (cached) and extract the features once, timing the extraction on its own."""
    from polymodal.captioning.inputs import input_encoder
    from polymodal.data.recipes import build
    from polymodal.data.table import read_table
    from polymodal.encoders.cache import FeatureCache
    from polymodal.paths import data_home

    path = build(name, data_home() / name)
    table = read_table(path)
    cache = FeatureCache()
    start = time.perf_counter()
    feats, _ = cache.extract(input_encoder("image"), table.df["image"].tolist(), base_dir=table.base_dir,
                             progress=False)
    stats = {"rows": len(table), "seconds": time.perf_counter() - start, "computed": cache.last.computed,
             "backend": cache.last.backend or "cache", "mb": feats.shape[1] * 2 * len(table) / 1e6}
    return path, stats


def fit(path: Path, decoder: str, epochs: int, seed: int) -> dict:
    from polymodal.captioning.captioner import Captioner

    c = Captioner(decoder=decoder, epochs=epochs, seed=seed, progress=False).fit(path)
    return {"metrics": c.metrics_, "train_seconds": c.train_seconds_, "epochs": len(c.history_),
            "best_epoch": c.best_epoch_ + 1, "splits": c.split_sizes_, "vocab": c.tokenizer_.vocab_size}


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r["metrics"][key] for r in runs)


def table_rows(name: str, results: dict[str, list[dict]]) -> list[str]:
    cols = COLUMNS[name]
    lines = ["| captioner | " + " | ".join(cols) + " | BLEU-4 / NN | CIDEr-D / NN | train s | epochs (best) |",
             "|---|" + "---:|" * (len(cols) + 4)]
    first = next(iter(results.values()))
    for decoder, runs in results.items():
        b4, cider = _median(runs, "bleu_4"), _median(runs, "cider_d")
        nb4, ncider = _median(runs, "nn_bleu_4"), _median(runs, "nn_cider_d")
        ratio = f"{b4 / nb4:.2f}" if nb4 else "inf" if b4 else "-"
        lines.append(f"| {decoder} (beam 3) | " + " | ".join(f"{_median(runs, c):.3f}" for c in cols)
                     + f" | {ratio} | {cider / ncider:.2f} | "
                     + f"{statistics.median(r['train_seconds'] for r in runs):.0f} | "
                     + f"{runs[0]['epochs']} ({runs[0]['best_epoch']}) |")
    lines.append("| nearest-neighbour baseline | " + " | ".join(f"{_median(first, 'nn_' + c):.3f}" for c in cols)
                 + " | 1.00 | 1.00 | 0 | - |")
    return lines


def section(args, machine_facts: dict, loads: tuple[str, str], data: dict) -> str:
    out = ["## Captioning: GRU + attention and transformer decoders against the nearest-neighbour baseline", "",
           f"Command: `python benchmarks/bench_caption.py --epochs {args.epochs} --repeats {args.repeats}"
           f" --data {','.join(args.data)}`", "",
           "Machine: " + ", ".join(f"{k} {v}" for k, v in machine_facts.items())
           + f". {loads[0]} at the start, {loads[1]} at the end (a machine shared with other jobs: "
             "training times move with its load).", "",
           "Each captioner: EfficientNet-Lite0 features pooled to a 4x4 grid of 1280-d tokens (cached, float16), "
           "a decoder of width 128 trained on one torch thread (the captioner's default) with teacher forcing "
           "(AdamW, batches of 128, warm-up + cosine, label smoothing 0.1, up to the epochs given, early "
           "stopping after 8 epochs without a better validation BLEU-4 of greedy captions), scored on the "
           "**test** split with beam search (beam 3, GNMT length penalty 0.6). The nearest-neighbour "
           "baseline copies the caption of the training image with the highest cosine of mean-pooled "
           "features; it is scored on the same "
           f"inputs. Figures are medians of {args.repeats} run(s) (seeds 0..{args.repeats - 1}). "
           "BLEU is corpus level (Papineni et al. 2002), CIDEr-D as in coco-caption (x10, IDF from the "
           "test references). Attribute accuracy: the caption's first phrase parsed with the `shapes` "
           "grammar and compared with the table's columns.", ""]
    for name, entry in data.items():
        prep, results = entry["prepare"], entry["results"]
        run = next(iter(results.values()))[0]
        out += [f"### {name}", "",
                f"{prep['rows']} rows (train/val/test {run['splits']['train']}/{run['splits']['val']}/"
                f"{run['splits']['test']}), vocabulary {run['vocab']} ids. {_extraction(prep)}", "",
                *table_rows(name, results), ""]
        out += entry.get("notes", [])
    return "\n".join(out)


def _extraction(prep: dict) -> str:
    size = f"the cached tokens take {prep['mb']:.0f} MB"
    if prep["computed"] == 0:
        return f"Features read from the cache in {prep['seconds']:.1f} s (computed by an earlier run); {size}."
    return f"Feature extraction: {prep['seconds']:.0f} s for {prep['computed']} new images ({prep['backend']}); {size}."


NOTES = {
    "openmoji": ["Caption = the emoji's Unicode name. The splits are drawn per base emoji, so a test emoji is "
                 "never a recoloured training one and most test names contain words or word orders no "
                 "training name has: what either captioner can get right is the shared part of the names "
                 "(\"flag: ...\", \"... face\", \"person ...\"). Read the ratios, not the absolute values.", ""],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=lambda s: s.split(","), default=["shapes", "openmoji"])
    parser.add_argument("--decoders", type=lambda s: s.split(","), default=["gru", "transformer"])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    start_load, facts, data = load_average(), machine(), {}
    for name in args.data:
        path, prep = prepare(name)
        results = {}
        for decoder in args.decoders:
            results[decoder] = [fit(path, decoder, args.epochs, seed) for seed in range(args.repeats)]
            m = results[decoder][0]
            print(f"{name} {decoder}: BLEU-4 {m['metrics']['bleu_4']:.3f} (NN {m['metrics']['nn_bleu_4']:.3f}), "
                  f"CIDEr-D {m['metrics']['cider_d']:.3f} (NN {m['metrics']['nn_cider_d']:.3f}), "
                  f"train {m['train_seconds']:.0f} s", flush=True)
        data[name] = {"prepare": prep, "results": results, "notes": NOTES.get(name, [])}
    text = section(args, facts, (start_load, load_average()), data)
    print(text)
    if not args.no_write:
        write_section("caption", text)


if __name__ == "__main__":
    main()
