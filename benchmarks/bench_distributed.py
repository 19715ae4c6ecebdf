"""Beyond one machine, measured on this one: training on 1 process against 2 gloo ranks at the same global
batch (torchrun), and sharded feature extraction with 1 against 2 concurrent shards.

Training: a gated fusion over cached features the size of EfficientNet-Lite0's and MiniLM's (1280 + 384), 4
classes, `--rows` rows, global batch 256, through the shared loop (`polymodal.training.loop.train`). Reported:
training rows/s (epochs after the first), the all-reduce's share per step, median of `--repeats` launches each.
Extraction: `polymodal features extract` of a text column (MiniLM) into a fresh cache, one shard against two
concurrent ones; per-shard rows/s, the aggregate (rows over the slower shard's wall time) and the balance.

On 2 cores, 2 ranks of one thread each against 1 process of two threads is a test of overhead, not of scaling:
the figures say what a rank costs, not what a cluster gains.

    python benchmarks/bench_distributed.py [--rows 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import command_line, head, publish

HERE = Path(__file__).resolve()


def worker(out: Path, rows: int, epochs: int) -> None:
    import torch

    from polymodal.fusion import build_fusion
    from polymodal.predict.model import MultimodalModel
    from polymodal.tasks.classification import Classification
    from polymodal.training import distributed
    from polymodal.training.data import ArrayData
    from polymodal.training.loop import train

    g = torch.Generator().manual_seed(0)
    dims = {"image": 1280, "text": 384}
    y = torch.randint(0, 4, (rows,), generator=g)
    inputs = {c: torch.randn(rows, d, generator=g) + y[:, None].float() * 0.05 for c, d in dims.items()}
    data = ArrayData(inputs, {c: torch.ones(rows, dtype=torch.bool) for c in dims}, y)
    torch.manual_seed(0)
    model = MultimodalModel({}, dims, build_fusion("gated", in_dims=dims, out_dim=256, hidden=256, dropout=0.1), 4)
    task = Classification("y")
    task.classes = ["0", "1", "2", "3"]
    times: list[float] = []
    last = [time.perf_counter()]

    def tick(row: dict) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    train(model, task, data, None, epochs=epochs, batch_size=256, patience=99, progress=False, on_epoch_end=tick)
    w = distributed.world()
    if w.main:
        steady = times[1:] or times
        out.write_text(json.dumps({"rows_per_s": rows / statistics.median(steady), "world": w.size,
                                   "sync_ms": 1000 * distributed.STATS["sync_seconds"] / max(
                                       distributed.STATS["syncs"], 1),
                                   "step_ms": 1000 * statistics.median(steady) / (rows // 256)}))


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = str(HERE.parents[1] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def training(rows: int, epochs: int, ranks: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] \
            if ranks > 1 else [sys.executable]
        env = _env()
        if ranks > 1:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // ranks))
        subprocess.run([*launch, str(HERE), "--worker", str(out), "--rows", str(rows), "--epochs", str(epochs)],
                       env=env, check=True, capture_output=True)
        return json.loads(out.read_text())


def extraction(rows: int, shards: int) -> dict:
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        words = ["red", "green", "blue", "round", "square", "tiny", "huge", "soft", "loud", "calm", "old", "new"]
        table = Path(tmp) / "t.csv"
        pd.DataFrame({"text": [f"row {i}: a {words[i % 12]} {words[(i // 12) % 12]} {words[(i // 144) % 12]} thing"
                               for i in range(rows)]}).to_csv(table, index=False)
        env = {**_env(), "POLYMODAL_HOME": str(Path(tmp) / "home")}
        if shards > 1:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // shards))
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "polymodal", "features", "extract", str(table), "--shard",
                                   f"{k}/{shards}", "--out", str(Path(tmp) / "feats"), "--quiet"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for k in range(shards)]
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError(p.stderr.read().decode())
        wall = time.perf_counter() - started
        from polymodal.encoders.sharded import features_status

        per = features_status(Path(tmp) / "feats")["per_shard"]
        return {"shards": shards, "per_shard_rows_per_s": [s["rows_per_s"] for s in per],
                "aggregate_rows_per_s": rows / max(s["seconds"] for s in per), "wall_s": wall,
                "balance": max(s["rows"] for s in per) / (rows / shards)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--text-rows", type=int, default=3000)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.rows, args.epochs)
        return
    body = ["### Training: 1 process against 2 gloo ranks, global batch 256", "",
            "| processes | rows/s (median) | runs | ms per step | all-reduce ms per step | ratio to 1 process |",
            "|---:|---:|---|---:|---:|---:|"]
    base = None
    # interleaved (1, 2, 1, 2, ...): this machine's speed drifts between minutes, and the ratio must not take it in
    interleaved = {1: [], 2: []}
    for _ in range(args.repeats):
        for ranks in (1, 2):
            interleaved[ranks].append(training(args.rows, args.epochs, ranks))
    for ranks in (1, 2):
        runs = interleaved[ranks]
        speed = statistics.median(r["rows_per_s"] for r in runs)
        base = base or speed
        each = ", ".join(f"{r['rows_per_s']:,.0f}" for r in runs)
        body.append(f"| {ranks} | {speed:,.0f} | {each} | "
                    f"{statistics.median(r['step_ms'] for r in runs):.1f} | "
                    f"{statistics.median(r['sync_ms'] for r in runs):.2f} | {speed / base:.2f} |")
        print(body[-1], flush=True)
    body += ["", f"### Feature extraction: {args.text_rows} texts through MiniLM, fresh cache", "",
             "| shards | rows/s per shard | aggregate rows/s (median) | wall s | largest shard / even share | "
             "ratio to 1 shard |", "|---:|---|---:|---:|---:|---:|"]
    base = None
    interleaved = {1: [], 2: []}
    for _ in range(args.repeats):
        for shards in (1, 2):
            interleaved[shards].append(extraction(args.text_rows, shards))
    for shards in (1, 2):
        runs = interleaved[shards]
        agg = statistics.median(r["aggregate_rows_per_s"] for r in runs)
        base = base or agg
        mid = sorted(runs, key=lambda r: r["aggregate_rows_per_s"])[len(runs) // 2]
        body.append(f"| {shards} | {', '.join(f'{v:.0f}' for v in mid['per_shard_rows_per_s'])} | {agg:.0f} | "
                    f"{mid['wall_s']:.1f} | {mid['balance']:.3f} | {agg / base:.2f} |")
        print(body[-1], flush=True)
    opening = head("Beyond one machine: ranks and shards on one machine", command_line("bench_distributed.py", argv),
                   "1 process (two threads) against 2 ranks or shards (one thread each) on the same 2 cores: what "
                   "the distribution costs here, not what a cluster gains. All-reduce: one gloo all-reduce of every "
                   "gradient per step (training/distributed.py).")
    publish("distributed", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
