"""The toolbox around fusion, measured on `digits` (issue 18): which modality mattered, clusters of the
fused embeddings, and distillation into a one-modality student.

Per seed: a teacher `Predictor(fusion="concat,gated,late")` on the full training rows (image +
audio, frozen cached encoders, the classical candidates and ensemble selection: what a user saves); then
- from its report: each modality's mean |Shapley value| and permutation importance (predict/explain.py);
- k-means with k = 10 and k = auto on its fused embedding of the test rows (when the saved model embeds:
  a fusion), NMI and ARI against the digit;
- a student reading the image only (`only:image`), fitted with and without the teacher in one
  `Predictor(teacher=...)` (the plain candidate and its `+teacher` twin), on 10% of the training rows: test
  accuracy of each, and both models' size and latency.

    python benchmarks/bench_toolbox.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from bench_accuracy import SETUPS
from bench_baselines import table_for
from common import command_line, head, mean_std, publish
from polymodal import Predictor
from polymodal.cluster import cluster

SETUP = SETUPS["digits"]


def run(seed: int, work: Path) -> dict:
    table = table_for("digits", 1.0, seed)
    teacher = Predictor(SETUP["label"], fusion="concat,gated,late", encoders=SETUP["encoders"], seed=seed,
                        progress=False).fit(table, out=work / f"teacher{seed}")
    out = {"seed": seed, "teacher": teacher.best_.name, "teacher_accuracy": teacher.best_.test["accuracy"]}
    for row in teacher.mattered_:
        if row["column"] == row["modality"]:
            out[f"shapley_{row['modality']}"] = row["mean_abs_shapley"]
            out[f"permutation_{row['modality']}"] = row["drop"]
    test = pd.read_parquet(table)
    test = test[test["split"] == "test"]
    embedder = teacher
    if teacher.best_.kind != "fusion":  # an ensemble or a classical model has no fused embedding: the best fusion
        best = max((c for c in teacher.candidates_ if c.kind == "fusion"), key=lambda c: c.val[teacher.task_.monitor])
        embedder = Predictor(SETUP["label"], fusion=best.fusion, encoders=SETUP["encoders"], seed=seed,
                             classical="none", baselines=False, ensemble=False, progress=False).fit(table)
        out["embedded_by"] = best.fusion
    test_path = work / f"test{seed}.parquet"
    test.to_parquet(test_path, index=False)
    (work / "images").exists() or (work / "images").symlink_to(Path(table).parent / "images")
    (work / "audio").exists() or (work / "audio").symlink_to(Path(table).parent / "audio")
    for k in (10, "auto"):
        c = cluster(embedder, test_path, k=k, label=SETUP["label"], seed=seed)
        out[f"k{k}_k"], out[f"k{k}_nmi"], out[f"k{k}_ari"] = c.metrics["k"], c.metrics["nmi"], c.metrics["ari"]
    student = Predictor(SETUP["label"], fusion="concat", encoders=SETUP["encoders"], seed=seed,
                        overrides={"audio": "ignore"}, teacher=teacher, classical="none", baselines=False,
                        ensemble=False, progress=False).fit(table_for("digits", 0.1, seed))
    rows = {c.name: c for c in student.candidates_}
    out["student_plain"] = rows["concat"].test["accuracy"]
    out["student_taught"] = rows["concat+teacher"].test["accuracy"]
    out["student_saved"] = student.best_.name
    out["student_mb"] = student.distilled_["student_footprint"]["size_mb"]
    out["teacher_mb"] = student.distilled_["teacher_footprint"]["size_mb"]
    out["student_ms"] = student.distilled_["student_footprint"]["ms_per_row"]
    out["teacher_ms"] = student.distilled_["teacher_footprint"]["ms_per_row"]
    return out


def section(rows: pd.DataFrame) -> list[str]:
    def ms(column: str) -> str:
        return mean_std(rows[column])

    n = len(rows)
    lines = [f"Seeds: {', '.join(map(str, rows['seed']))}. The teacher (saved model: "
             f"{', '.join(rows['teacher'])}) reaches test accuracy {ms('teacher_accuracy')}.", "",
             "| which modality mattered (teacher, test rows) | image | audio |", "|---|---:|---:|",
             f"| mean \\|Shapley value\\| | {ms('shapley_image')} | {ms('shapley_audio')} |",
             f"| permutation importance (drop in balanced accuracy) | {ms('permutation_image')} | "
             f"{ms('permutation_audio')} |", "",
             "| clusters of the fused embedding (test rows) | k | NMI | ARI |", "|---|---:|---:|---:|",
             f"| k-means, k = 10 | 10 | {ms('k10_nmi')} | {ms('k10_ari')} |",
             f"| k-means, k by silhouette | {', '.join(str(int(k)) for k in rows['kauto_k'])} | {ms('kauto_nmi')} | "
             f"{ms('kauto_ari')} |", "",
             "| image-only student, 10% of the training rows | test accuracy | size MB | ms a row |",
             "|---|---:|---:|---:|",
             f"| without the teacher | {ms('student_plain')} | {rows['student_mb'].median():.2f} | "
             f"{rows['student_ms'].median():.2f} |",
             f"| with the teacher (T = 4, alpha = 0.5) | {ms('student_taught')} | {rows['student_mb'].median():.2f} | "
             f"{rows['student_ms'].median():.2f} |",
             f"| the teacher (image + audio) | {ms('teacher_accuracy')} | {rows['teacher_mb'].median():.2f} | "
             f"{rows['teacher_ms'].median():.2f} |", "",
             f"Paired difference, taught minus plain: {(rows['student_taught'] - rows['student_plain']).mean():+.3f} "
             f"over {n} seed(s); the saved student per seed: {', '.join(rows['student_saved'])}."]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    opening = head("The toolbox on digits: explanations, clusters, distillation",
                   command_line("bench_toolbox.py", argv),
                   "Test split, mean ± std over seeds. Latency: `predict_proba` end to end on the test rows (features "
                   "read from the cache), so it is the model's share, on a machine shared with other jobs.")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rows.append(run(seed, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    publish("toolbox", opening, section(pd.DataFrame(rows)), write=not args.no_write)


if __name__ == "__main__":
    main()
