"""Cross-modal retrieval quality: every alignment method (contrastive heads, the closed forms CCA,
Procrustes, ridge, and the training-free ASIF baseline of Norelli et al. 2022) and chance, on real
data, validation and test Recall@1 both ways, and which method `auto` serves.

- openmoji: emoji artwork <-> its Unicode name (EfficientNet-Lite0 and MiniLM, frozen).
  Skin-tone variants share a name, so every variant counts as a correct answer.
- digits: spoken digit <-> handwritten digit (MFCC statistics and EfficientNet-Lite0, frozen);
  every row of the same digit counts as a correct answer (key = label).

    python benchmarks/bench_retrieval.py [--epochs 30] [--method auto] [--init cca|random]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from common import load_average, machine, write_section
from polymodal import Aligner
from polymodal.data.recipes import build
from polymodal.paths import data_home

SETUPS = {
    "openmoji": {"columns": ["caption", "image"], "encoders": {"image": "efficientnet-lite0", "text": "minilm"},
                 "key": None},
    "digits": {"columns": ["audio", "image"], "encoders": {"image": "efficientnet-lite0", "audio": "mfcc"},
               "key": "label"},
}


def run(name: str, epochs: int, method: str, init: str) -> tuple[dict, float, Aligner]:
    table = build(name, data_home() / name)
    setup = SETUPS[name]
    aligner = Aligner(setup["columns"], encoders=setup["encoders"], key=setup["key"], epochs=epochs, method=method,
                      init=init, progress=False)
    aligner.fit(table)  # features are cached by now if the accuracy benchmark ran; time the training alone
    return aligner.metrics_, aligner.train_seconds_, aligner


def zero_shot_row(aligner: Aligner, seed: int = 0) -> str:
    """openmoji: image -> group through the caption tower, against a supervised image-only classifier
    trained on the same split (the test split of the same table)."""
    import pandas as pd

    from polymodal import Predictor
    from polymodal.alignment.zero_shot import zero_shot

    table = build("openmoji", data_home() / "openmoji")
    test = pd.read_parquet(table).query("split == 'test'")
    test = test.assign(image=[str(table.parent / p) for p in test["image"]])
    zs = zero_shot(aligner, test, label="group", column="image")
    supervised = Predictor("group", fusion="concat", encoders={"image": "efficientnet-lite0"}, seed=seed,
                           overrides={c: "ignore" for c in ("caption", "audio", "subgroup")}, progress=False)
    supervised.fit(table)
    return (f"Zero-shot image -> group on openmoji's test split ({zs['n']} rows, {zs['classes']} groups, prompts "
            f"from the group names): **{zs['accuracy']:.3f}**, against a supervised image-only classifier "
            f"(EfficientNet-Lite0 features + MLP, same split): **{supervised.best_.test['accuracy']:.3f}**; "
            f"chance {zs['chance']:.3f}.")


def rows(name: str, metrics: dict) -> list[str]:
    out = []
    validation = metrics["selection"]["validation"]
    for entry in metrics["pairs"].values():
        for direction, chosen in entry["learned"].items():
            for method, scores in entry["methods"].items():
                m = scores[direction]
                shown = f"**{method}** (served)" if method == metrics["method"] else method
                out.append(f"| {name} | {direction} | {shown} | {validation[method][direction]:.3f} | "
                           + " | ".join(f"{m[f'recall@{k}']:.3f}" for k in (1, 5, 10)) + f" | {m['mrr']:.3f} |")
            out.append(f"| {name} | {direction} | chance | | "
                       + " | ".join(f"{chosen[f'chance_recall@{k}']:.3f}" for k in (1, 5, 10)) + " | |")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--method", default="auto")
    parser.add_argument("--init", default="random", choices=("random", "cca"))
    parser.add_argument("--data", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-zero-shot", action="store_true", help="skip the zero-shot row (it fits a Predictor)")
    args = parser.parse_args(argv)
    command = shlex.join(argv if argv is not None else sys.argv[1:])
    lines = ["## Cross-modal retrieval: every alignment method vs ASIF vs chance", "",
             f"Command: `python benchmarks/bench_retrieval.py {command}`",
             "", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + f"; {load_average()}.", "",
             "Validation R@1 (where `auto` chooses) and test R@1/5/10 and MRR for every method fitted: contrastive "
             f"heads ({args.epochs} epochs, started at {'the CCA solution' if args.init == 'cca' else 'random'}), "
             "CCA, Procrustes and ridge maps (closed forms, options chosen on validation), ASIF (training-free, "
             "anchors = the train pairs, k=800, p=8) and chance. The served method is in bold.", "",
             "| data | direction | method | val R@1 | test R@1 | R@5 | R@10 | MRR |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    started = time.time()
    zero_shot_line, choices = "", []
    for name in args.data:
        metrics, seconds, aligner = run(name, args.epochs, args.method, args.init)
        found = rows(name, metrics)
        lines += found
        choices.append(f"{name}: serves **{metrics['method']}**, {metrics['selection']['why']}; "
                       f"fitted in {seconds:.0f} s.")
        print("\n".join(found + choices[-1:]), flush=True)
        if name == "openmoji" and not args.no_zero_shot:
            zero_shot_line = zero_shot_row(aligner)
            print(zero_shot_line, flush=True)
    lines += ["", *choices]
    lines += ["", zero_shot_line] if zero_shot_line else []
    lines += ["", f"Whole benchmark: {time.time() - started:.0f} s."]
    if not args.no_write:
        print("written to", write_section("retrieval", "\n".join(lines)))


if __name__ == "__main__":
    main()
