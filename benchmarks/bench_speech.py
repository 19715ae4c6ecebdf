"""Speech encoders against each other: `whisper` (Whisper tiny.en encoder states), `whisper-asr`
(its transcript embedded by MiniLM) and `mfcc` (MFCC statistics), all frozen and cached.

- openmoji: each emoji's Unicode name spoken by eSpeak NG -> its written name. Aligner over
  (audio, caption), caption through MiniLM; test split, R@1 audio->caption (tone variants share a
  name: every row with the same caption is a correct answer). For `whisper-asr` also "direct":
  no training at all, the transcript's MiniLM embedding against the caption's.
- digits: a spoken digit -> its class, audio alone (Predictor; the test accent is held out).

Whisper reads a 30 s window per clip whatever its length, so on 2 cores it takes about a second
a clip: the data sets are subsets (`--openmoji-size`, `--digits-size`) of one build each (seed 0);
the seeds are those of the fits on the cached features.

    python benchmarks/bench_speech.py [--seeds 0 1 2] [--openmoji-size 600] [--digits-size 500]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import load_average, machine, write_section
from polymodal import Aligner, Predictor
from polymodal.data.recipes import build
from polymodal.encoders import build_encoder
from polymodal.encoders.cache import FeatureCache
from polymodal.metrics.retrieval import positives_from_keys, retrieval_metrics
from polymodal.paths import data_home

ENCODERS = ("whisper", "whisper-asr", "mfcc")


def table_of(name: str, size: int) -> tuple[Path, pd.DataFrame]:
    """The built table's file (the jobs read it with its schema.yaml) and its rows, file paths absolute."""
    path = build(name, data_home() / f"{name}-{size}", size=size)
    df = pd.read_parquet(path)
    for column in ("audio", "image"):
        df[column] = [str(path.parent / p) for p in df[column]]
    return path, df


def extract_speed(encoder: str, paths: list[str]) -> float:
    """Fill the cache for `paths`; clips per second over the clips computed now (nan if all cached)."""
    cache = FeatureCache()
    cache.extract(build_encoder(encoder), paths, progress=False)
    stats = cache.last
    return stats.computed / stats.seconds if stats.computed else float("nan")


def direct_recall(df: pd.DataFrame) -> float:
    """R@1 audio->caption on the test split with no training: whisper-asr's MiniLM space is the caption's."""
    test = df[df["split"] == "test"]
    audio, _ = FeatureCache().extract(build_encoder("whisper-asr"), list(test["audio"]), progress=False)
    text, _ = FeatureCache().extract(build_encoder("minilm"), list(test["caption"]), progress=False)
    keys = test["caption"].str.lower().tolist()
    return retrieval_metrics(audio @ text.T, positives_from_keys(keys, keys), (1,))["recall@1"]


def align(table: Path, encoder: str, seed: int, epochs: int) -> float:
    aligner = Aligner(["audio", "caption"], encoders={"audio": encoder, "text": "minilm"}, seed=seed,
                      epochs=epochs, progress=False)
    aligner.fit(table)
    return aligner.metrics_["pairs"]["audio|caption"]["learned"]["audio->caption"]["recall@1"]


def classify(table: Path, encoder: str, seed: int) -> tuple[float, float]:
    """(saved model, linear probe) test accuracy from audio alone."""
    p = Predictor("label", encoders={"audio": encoder}, seed=seed, progress=False,
                  overrides={"image": "ignore"})  # word, voice, speed, pitch: ignored by schema.yaml
    p.fit(table)
    probe = next(c for c in p.candidates_ if c.name == "linear-probe")
    return p.best_.test["accuracy"], probe.test["accuracy"]


def summary(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def measure(args) -> dict[str, dict]:
    (moji_table, moji), (digits_table, digits) = table_of("openmoji", args.openmoji_size), \
        table_of("digits", args.digits_size)
    out = {}
    for encoder in ENCODERS:
        speed = extract_speed(encoder, sorted(set(moji["audio"]) | set(digits["audio"])))
        row = {"speed": speed, "r1": [], "acc": [], "probe": []}
        for seed in args.seeds:
            row["r1"].append(align(moji_table, encoder, seed, args.epochs))
            acc, probe = classify(digits_table, encoder, seed)
            row["acc"].append(acc)
            row["probe"].append(probe)
            print(encoder, seed, row, flush=True)
        row["direct"] = direct_recall(moji) if encoder == "whisper-asr" else float("nan")
        out[encoder] = row
    out["_rows"] = {"openmoji": len(moji), "openmoji_test": int((moji["split"] == "test").sum()),
                    "digits": len(digits), "digits_test": int((digits["split"] == "test").sum())}
    return out


def examples(df: pd.DataFrame, n: int = 8) -> list[str]:
    """A few test transcripts next to their captions (read back from the transcript store)."""
    test = df[df["split"] == "test"].head(n)
    heard = build_encoder("whisper-asr").transcribe_files(list(test["audio"]))
    return [f"| {c} | {h} |" for c, h in zip(test["caption"], heard, strict=True)]


def report(results: dict, args, command: str, seconds: float) -> str:
    rows = results.pop("_rows")
    lines = ["## Speech encoders: Whisper states, Whisper transcripts + MiniLM, MFCC", "",
             f"Command: `python benchmarks/bench_speech.py {command}`", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + f"; {load_average()}.", "",
             f"openmoji subset: {rows['openmoji']} rows ({rows['openmoji_test']} test), R@1 audio->caption of the "
             "Aligner (caption: MiniLM), and for whisper-asr with no training (direct). digits subset: "
             f"{rows['digits']} rows ({rows['digits_test']} test, held-out accent), accuracy of the Predictor from "
             f"audio alone (the saved model, and the linear probe). Seeds {', '.join(map(str, args.seeds))} "
             "(mean ± sd). clips/s: feature extraction on this machine, rough (others shared the 2 cores).", "",
             "| audio encoder | openmoji R@1 learned | R@1 direct | digits accuracy | digits probe | clips/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        direct = "" if np.isnan(r["direct"]) else f"{r['direct']:.3f}"
        speed = "cached" if np.isnan(r["speed"]) else f"{r['speed']:.1f}"
        lines.append(f"| {name} | {summary(r['r1'])} | {direct} | {summary(r['acc'])} | {summary(r['probe'])} | "
                     f"{speed} |")
    lines += ["", "Transcripts (whisper-asr, greedy, int8) of the first openmoji test rows:", "",
              "| caption | heard |", "|---|---|", *examples(table_of("openmoji", args.openmoji_size)[1])]
    return "\n".join([*lines, "", f"Whole benchmark: {seconds:.0f} s."])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--openmoji-size", type=int, default=600)
    parser.add_argument("--digits-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    command = shlex.join(argv if argv is not None else sys.argv[1:])
    started = time.time()
    section = report(measure(args), args, command, time.time() - started)
    print(section)
    if not args.no_write:
        print("written to", write_section("speech", section, Path(__file__).resolve().parent.parent / "BENCHMARKS.md"))


if __name__ == "__main__":
    main()
