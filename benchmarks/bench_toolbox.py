"""The toolbox around fusion, measured on `digits` and `openmoji` (issue 18): which modality mattered, clusters of
the fused embeddings, and distillation into a one-modality student.

Per seed: a teacher `Predictor(fusion="concat,gated,late")` on the full training rows (image +
audio, frozen cached encoders, the classical candidates and ensemble selection: what a user saves); then
- from its report: each modality's mean |Shapley value| and permutation importance (predict/explain.py);
- k-means with k = the number of classes and k = auto on its fused embedding of the test rows (when the saved
  model embeds: a fusion; else its best fusion refitted), NMI and ARI against the label;
- a student reading the image only (`only:image`), fitted with and without the teacher in one
  `Predictor(teacher=...)` (the plain candidate and its `+teacher` twin), on 10% of the training rows: test
  accuracy of each, and both models' size and latency.

    python benchmarks/bench_toolbox.py [--data digits openmoji] [--seeds 0 1 2]

Resumable: each finished (data set, seed) is saved atomically under `--state`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from bench_accuracy import SETUPS
from bench_baselines import table_for
from common import command_line, head, mean_std, publish, stored
from polymodal import Predictor
from polymodal.cluster import cluster
from polymodal.paths import home


def run(name: str, seed: int, work: Path) -> dict:
    setup = SETUPS[name]
    table = table_for(name, 1.0, seed)
    teacher = Predictor(setup["label"], fusion="concat,gated,late", encoders=setup["encoders"], seed=seed,
                        overrides=setup.get("overrides"), progress=False).fit(table, out=work / f"teacher{seed}")
    out = {"data": name, "seed": seed, "teacher": teacher.best_.name,
           "teacher_accuracy": teacher.best_.test["accuracy"]}
    for row in teacher.mattered_:
        if row["column"] == row["modality"]:
            out[f"shapley_{row['modality']}"] = row["mean_abs_shapley"]
            out[f"permutation_{row['modality']}"] = row["drop"]
    test = pd.read_parquet(table)
    test = test[test["split"] == "test"]
    embedder = teacher
    if teacher.best_.kind != "fusion":  # an ensemble or a classical model has no fused embedding: the best fusion
        best = max((c for c in teacher.candidates_ if c.kind == "fusion"), key=lambda c: c.val[teacher.task_.monitor])
        embedder = Predictor(setup["label"], fusion=best.fusion, encoders=setup["encoders"], seed=seed,
                             overrides=setup.get("overrides"), classical="none", baselines=False, ensemble=False,
                             progress=False).fit(table)
        out["embedded_by"] = best.fusion
    test_path = work / f"test{seed}.parquet"
    test.to_parquet(test_path, index=False)
    for folder in Path(table).parent.iterdir():  # the media folders, so the test table's relative paths resolve
        if folder.is_dir() and not (work / folder.name).exists():
            (work / folder.name).symlink_to(folder)
    classes = test[setup["label"]].nunique()
    for tag, k in (("kclasses", classes), ("kauto", "auto")):
        c = cluster(embedder, test_path, k=k, label=setup["label"], seed=seed)
        out[f"{tag}_k"], out[f"{tag}_nmi"], out[f"{tag}_ari"] = c.metrics["k"], c.metrics["nmi"], c.metrics["ari"]
    others = {m: "ignore" for c in teacher.columns_ if c != "image" for m in teacher.schema_.members(c)}
    student = Predictor(setup["label"], fusion="concat", encoders={"image": setup["encoders"]["image"]}, seed=seed,
                        overrides={**(setup.get("overrides") or {}), **others}, teacher=teacher, classical="none",
                        baselines=False, ensemble=False, progress=False).fit(table_for(name, 0.1, seed))
    rows = {c.name: c for c in student.candidates_}
    out["student_plain"] = rows["concat"].test["accuracy"]
    out["student_taught"] = rows["concat+teacher"].test["accuracy"]
    out["student_saved"] = student.best_.name
    out["student_mb"] = student.distilled_["student_footprint"]["size_mb"]
    out["teacher_mb"] = student.distilled_["teacher_footprint"]["size_mb"]
    out["student_ms"] = student.distilled_["student_footprint"]["ms_per_row"]
    out["teacher_ms"] = student.distilled_["teacher_footprint"]["ms_per_row"]
    return out


def section(name: str, rows: pd.DataFrame) -> list[str]:
    def ms(column: str) -> str:
        return mean_std(rows[column])

    n = len(rows)
    modalities = [c.removeprefix("shapley_") for c in rows.columns if c.startswith("shapley_")]
    lines = [f"### {name}", "", f"Seeds: {', '.join(map(str, rows['seed']))}. The teacher (saved model: "
             f"{', '.join(rows['teacher'])}) reaches test accuracy {ms('teacher_accuracy')}.", "",
             "| which modality mattered (teacher, test rows) | " + " | ".join(modalities) + " |",
             "|---|" + "---:|" * len(modalities),
             "| mean \\|Shapley value\\| | " + " | ".join(ms(f"shapley_{m}") for m in modalities) + " |",
             "| permutation importance (drop in balanced accuracy) | "
             + " | ".join(ms(f"permutation_{m}") for m in modalities) + " |", "",
             "| clusters of the fused embedding (test rows) | k | NMI | ARI |", "|---|---:|---:|---:|",
             f"| k-means, k = the classes | {int(rows['kclasses_k'].iloc[0])} | {ms('kclasses_nmi')} | "
             f"{ms('kclasses_ari')} |",
             f"| k-means, k by silhouette | {', '.join(str(int(k)) for k in rows['kauto_k'])} | {ms('kauto_nmi')} | "
             f"{ms('kauto_ari')} |", "",
             "| image-only student, 10% of the training rows | test accuracy | size MB | ms a row |",
             "|---|---:|---:|---:|",
             f"| without the teacher | {ms('student_plain')} | {rows['student_mb'].median():.2f} | "
             f"{rows['student_ms'].median():.2f} |",
             f"| with the teacher (T = 4, alpha = 0.5) | {ms('student_taught')} | {rows['student_mb'].median():.2f} | "
             f"{rows['student_ms'].median():.2f} |",
             f"| the teacher ({' + '.join(modalities)}) | {ms('teacher_accuracy')} | "
             f"{rows['teacher_mb'].median():.2f} | {rows['teacher_ms'].median():.2f} |", "",
             f"Paired difference, taught minus plain: {(rows['student_taught'] - rows['student_plain']).mean():+.3f} "
             f"over {n} seed(s); the saved student per seed: {', '.join(rows['student_saved'])}.", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "openmoji"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--state", type=Path, default=home() / "benchmarks" / "toolbox")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    opening = head("The toolbox on digits and openmoji: explanations, clusters, distillation",
                   command_line("bench_toolbox.py", argv),
                   "Test split, mean ± std over seeds. Latency: `predict_proba` end to end on the test rows (features "
                   "read from the cache), so it is the model's share, on a machine shared with other jobs.")
    body = []
    for name in args.data:
        frames = []
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                frames.append(stored(args.state / f"{name}-seed{seed}.csv",
                                     lambda n=name, s=seed, t=tmp: pd.DataFrame([run(n, s, Path(t))]),
                                     lambda df: json.dumps(df.to_dict(orient="records")[0])))
        body += section(name, pd.concat(frames, ignore_index=True))
    publish("toolbox", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
