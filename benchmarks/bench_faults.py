"""Kill tests, many times over: each job is killed with SIGKILL at seeded random moments of its run, then
resumed (`--resume`) or run again, and the result is compared with an uninterrupted run's.

    python benchmarks/bench_faults.py [--trials 6] [--jobs align,caption,text-to-image,index-build,data-build]

The suite runs one kill per job (tests/runs/test_job_contract.py, tests/alignment/test_search.py,
tests/data/test_recipe_shapes.py, tests/encoders/test_cache.py, tests/predict/test_cli_fit.py); this script
runs several, records where each kill landed (what the folder held when the process died) and the outcome,
and writes the table into BENCHMARKS.md ("faults"). A trial fails if the resumed result differs from the
uninterrupted one by more than 1e-5 (the suite's tolerance: a new process may split a float32 reduction
another way), if a temporary file is left, or if a killed folder passes for a finished run or index.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["POLYMODAL_HOME"] = tempfile.mkdtemp(prefix="bench-faults-home-")  # hermetic, for the subprocesses too

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tests.killing import ENV, kill_at_random, leftovers  # noqa: E402
from tests.runs.test_job_contract import TINY, outputs, same  # noqa: E402

import polymodal as pm  # noqa: E402
from common import load_average, machine, write_section  # noqa: E402
from polymodal.data.recipes import build  # noqa: E402
from polymodal.errors import PolymodalError  # noqa: E402
from polymodal.index import VectorIndex  # noqa: E402
from polymodal.runs import directory  # noqa: E402
from polymodal.runs.files import write_json  # noqa: E402

FITS = {"align": ("aligner", ["align"]), "caption": ("captioner", ["fit", "--task", "caption"]),
        "text-to-image": ("generator", ["fit", "--task", "text-to-image"])}
POLYMODAL = [sys.executable, "-m", "polymodal"]


def where_fit(run: Path) -> str:
    """What the run folder held when its process died."""
    if (run / directory.MARKER).exists():
        return "saved (removing checkpoints)"
    pointer = run / "checkpoints" / "checkpoint.json"
    if pointer.exists():
        import json

        return f"training, epoch {json.loads(pointer.read_text())['epoch']} checkpointed"
    if (run / "log.csv").exists() or (run / "checkpoints").exists():
        return "training, before the first checkpoint"
    return "start-up (reading the table, extracting features)"


def fit_command(name: str, table: Path, ref, tmp: Path, out: Path) -> list[str]:
    config = write_json(tmp / "config.json", ref.fit_params())
    return [*POLYMODAL, *FITS[name][1], str(table), "--config", str(config), "--out", str(out)]


def fit_seconds(name: str, table: Path, ref, tmp: Path) -> float:
    """An uninterrupted run's time from its fit_args.json (the fit's start, after the imports) to its end:
    the span the kills are drawn from."""
    out = tmp / "timed"
    proc = subprocess.Popen(fit_command(name, table, ref, tmp, out), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while not (out / "fit_args.json").exists() and proc.poll() is None:
        time.sleep(0.01)
    start = time.monotonic()
    assert proc.wait() == 0, f"{name}: the uninterrupted run failed"
    return time.monotonic() - start


def trial_fit(name: str, table: Path, ref, seconds: float, tmp: Path, seed: int) -> tuple[str, str]:
    cut = tmp / "cut"
    cmd = fit_command(name, table, ref, tmp, cut)
    kill_at_random(cmd, cut, seconds=seconds, seed=f"{name}-{seed}", started=lambda: (cut / "fit_args.json").exists())
    where = where_fit(cut)
    if not (cut / directory.MARKER).exists():
        try:
            pm.load(cut)
            return where, "FAIL: the killed folder loaded as a finished run"
        except PolymodalError:
            pass
        done = subprocess.run([*cmd, "--resume"], env=ENV, capture_output=True, text=True)
        if done.returncode != 0:
            return where, f"FAIL: resume exited {done.returncode}: {done.stderr.strip().splitlines()[-1]}"
    try:
        same(outputs(ref, table), outputs(pm.load(cut), table), atol=1e-5)
    except AssertionError:
        return where, "FAIL: outputs differ from the uninterrupted fit's"
    left = leftovers(cut)
    return where, f"FAIL: left {left[0].name}" if left else "resumed: same outputs"


def trial_index(table: Path, run: Path, whole: VectorIndex, seconds: float, tmp: Path, seed: int) -> tuple[str, str]:
    cut = tmp / "cut"
    cmd = [*POLYMODAL, "index", "build", str(run), str(table), "--column", "image", "--out", str(cut)]
    kill_at_random(cmd, cut, seconds=seconds, seed=f"index-{seed}")
    try:
        n = len(VectorIndex.load(cut))
        where = "after the save" if n == len(whole) else f"FAIL: loaded {n} of {len(whole)} rows"
    except PolymodalError as err:
        where = "saving (refused as interrupted)" if "interrupted" in str(err) else "start-up or embedding"
    subprocess.run(cmd, env=ENV, check=True, capture_output=True)
    again = VectorIndex.load(cut)
    ok = again.rows.equals(whole.rows) and np.allclose(again.vectors(), whole.vectors(), atol=1e-6)
    left = leftovers(cut)
    return where, ("rerun: same index" if ok and not left else
                   f"FAIL: left {left[0].name}" if left else "FAIL: the rerun's index differs")


def trial_data(reference: Path, seconds: float, tmp: Path, seed: int) -> tuple[str, str]:
    out = tmp / "shapes"
    cmd = [*POLYMODAL, "data", "build", "shapes", "--size", "48", "--seed", "3", "--set", "image_size=32",
           "--set", "two_shape_fraction=0.0", "--out", str(out)]
    kill_at_random(cmd, out, seconds=seconds, seed=f"data-{seed}", started=lambda: any(tmp.glob(".shapes.partial-*")))
    partial = next(tmp.glob(".shapes.partial-*"), None)
    where = ("finished" if out.exists() else
             f"rendering ({len(list(partial.rglob('*.*')))} files written)" if partial else "start-up")
    if out.exists() and not (out / "recipe.json").exists():
        return where, "FAIL: a half-built folder at --out"
    subprocess.run(cmd, env=ENV, check=True, capture_output=True)
    same_bytes = all((out / p).read_bytes() == (reference / p).read_bytes()
                     for p in ["table.csv", *pd.read_parquet(reference / "table.parquet")["image"]])
    left = leftovers(tmp)
    return where, ("rerun: same bytes" if same_bytes and not left else
                   f"FAIL: left {left[0].name}" if left else "FAIL: other bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--jobs", default="align,caption,text-to-image,index-build,data-build")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    jobs = args.jobs.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    started = time.time()
    table = build("shapes", work / "data" / "shapes", size=48, seed=3, image_size=32, two_shape_fraction=0.0)
    rows = []
    refs = {name: TINY[FITS[name][0]]().fit(table, out=work / "ref" / name) for name in jobs if name in FITS}
    for name, ref in refs.items():
        seconds = fit_seconds(name, table, ref, Path(tempfile.mkdtemp(dir=work)))
        for i in range(args.trials):
            tmp = Path(tempfile.mkdtemp(dir=work))
            rows.append((name, *trial_fit(name, table, ref, seconds, tmp, i)))
            print(rows[-1], flush=True)
    if "index-build" in jobs:
        aligner = refs.get("align") or TINY["aligner"]().fit(table, out=work / "ref" / "al")
        run = aligner.run_dir_
        t0 = time.time()
        subprocess.run([*POLYMODAL, "index", "build", str(run), str(table), "--column", "image", "--out",
                        str(work / "whole")], env=ENV, check=True, capture_output=True)
        seconds, whole = time.time() - t0, VectorIndex.load(work / "whole")
        for i in range(args.trials):
            rows.append(("index build", *trial_index(table, run, whole, seconds, Path(tempfile.mkdtemp(dir=work)), i)))
            print(rows[-1], flush=True)
    if "data-build" in jobs:
        import json

        seconds = json.loads((table.parent / "recipe.json").read_text())["seconds"]
        for i in range(args.trials):
            rows.append(("data build", *trial_data(table.parent, seconds, Path(tempfile.mkdtemp(dir=work)), i)))
            print(rows[-1], flush=True)
    failed = [r for r in rows if r[2].startswith("FAIL")]
    facts = machine()
    lines = ["## Faults: kill -9 at random moments", "",
             f"`python benchmarks/bench_faults.py {shlex.join(sys.argv[1:])}`".replace(" `", "`"), "",
             f"Machine: {facts['cpu']}, {facts['cores']} cores, torch {facts['torch']}; {load_average()} at the end; "
             f"{time.time() - started:.0f} s in all.", "",
             "Each trial runs the job as a new process on a 48-row `shapes` table (32 px), sends SIGKILL after a "
             "seeded random fraction (5-90%) of an uninterrupted run's time (fits: from the fit's start), "
             "records what the folder held when the process died, then resumes the fit with `--resume` (or runs the "
             "command again) and compares with the "
             "uninterrupted result (fits: the job's outputs within 1e-5; index: rows equal, vectors within 1e-6; data: "
             "the same bytes). Every trial also checks that no temporary file is left.", "",
             f"**{len(rows) - len(failed)} of {len(rows)} trials ended with the uninterrupted result.**", "",
             "| job | where the kill landed | trials | outcome |", "|---|---|---|---|"]
    for (job, where, outcome), n in sorted(Counter(rows).items()):
        lines.append(f"| {job} | {where} | {n} | {outcome} |")
    lines += ["", "Also in the suite, one kill each: feature extraction into the cache killed after two of its "
              "shards (tests/encoders/test_cache.py: the finished shards are kept and reused, the rest computed) and "
              "a predictor fit killed mid-way through its second candidate (tests/predict/test_cli_fit.py: "
              "`--resume` gives the same metrics and comparison table)."]
    print("\n".join(lines))
    if not args.no_write:
        write_section("faults", "\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
