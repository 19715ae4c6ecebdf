"""Serving: /predict latency against the Python API, throughput under 16 concurrent clients, and ONNX
Runtime against PyTorch eager on the same inputs.

A run fitted on the openmoji recipe with an image and a text column (EfficientNet-Lite0 + MiniLM,
concat fusion) is served by `polymodal serve` in a subprocess on loopback. Every request carries an
image file and a caption that neither the server nor the feature cache has seen (each is a re-encoded
copy of an emoji with a few changed pixels, and a caption with a number added), so the Python API's
feature cache cannot answer from earlier work and both sides compute features.

1. Latency: sequential requests, p50/p99, against `Predictor.predict_proba` on a one-row DataFrame in
   this process (target: overhead of the HTTP path <= 20% at p50).
2. Throughput: 16 client threads post for --seconds each, with batching and without (zero errors wanted).
3. ONNX Runtime vs PyTorch eager: encoders + fusion + head on the same decoded batch, batch 1 and 32.

    python benchmarks/bench_serve.py [--run RUN --table TABLE] [--requests 150] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import load_average, machine, write_section
from polymodal.paths import home


def prepare_run(args) -> tuple[Path, Path]:
    """The benchmark's run and table: given, or built and fitted once under $POLYMODAL_HOME/bench-serve."""
    if args.run and args.table:
        return Path(args.run), Path(args.table)
    import polymodal as pm
    from polymodal.data.recipes import build

    root = home() / "bench-serve"
    table = build("openmoji", root / "openmoji")
    run = root / "run"
    if not (run / "polymodal.json").exists():
        pm.Predictor("group", fusion="concat", baselines=False, epochs=15, progress=False,
                     overrides={"subgroup": "ignore", "audio": "ignore"}).fit(table, out=run)
    return run, table


def fresh_inputs(table: Path, folder: Path, n: int, tag: str, seed: int) -> list[tuple[Path, str]]:
    """n (image, caption) pairs no cache has seen: test rows' images with a few pixels changed."""
    from PIL import Image

    df = pd.read_parquet(table) if table.suffix == ".parquet" else pd.read_parquet(table / "table.parquet")
    base = table if table.is_dir() else table.parent
    rows = df[df["split"] == "test"].sample(n, replace=n > (df["split"] == "test").sum(), random_state=seed)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (_, row) in enumerate(rows.iterrows()):
        pixels = np.array(Image.open(base / row["image"]).convert("RGB"))
        y, x = rng.integers(0, pixels.shape[0]), rng.integers(0, pixels.shape[1])
        pixels[y, x] = rng.integers(0, 256, 3)
        path = folder / f"{tag}-{i}.png"
        Image.fromarray(pixels).save(path)
        out.append((path, f"{row['caption']} {tag} {i}"))
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


# ---------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, run: Path, *extra: str):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "polymodal", "serve", str(run), "--port", str(self.port), *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("server did not start in 300 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def post(client, url: str, image: bytes, caption: str):
    return client.post(url + "/predict", files={"image": ("q.png", image, "image/png")}, data={"caption": caption})


# ---------------------------------------------------------------- 1. latency
def latency(run: Path, table: Path, n: int, work: Path) -> dict:
    """The three paths take turns request by request (in rotating order), so a burst of load from other
    jobs on the machine falls on all three alike."""
    import httpx

    import polymodal as pm
    from polymodal.serve.predict import PredictService

    p = pm.load(run)
    service = PredictService(p)  # the server's own path, in this process, without HTTP
    inputs = {k: fresh_inputs(table, work / k, n + 5, k, seed=s) for s, k in enumerate(("api", "direct", "http"), 1)}
    server = Server(run)

    def api(path, caption):
        p.predict_proba(pd.DataFrame({"image": [str(path)], "caption": [caption]}))

    def direct(path, caption):
        service.run_batch([service.load({"image": path, "caption": caption})])

    times: dict[str, list[float]] = {"api": [], "direct": [], "http": []}
    try:
        with httpx.Client(timeout=60) as client:
            def http(path, caption, image=None):
                post(client, server.url, image, caption).raise_for_status()

            calls = {"api": api, "direct": direct, "http": http}
            for i in range(n + 5):
                order = list(calls)[i % 3:] + list(calls)[:i % 3]
                for name in order:
                    path, caption = inputs[name][i]
                    extra = {"image": path.read_bytes()} if name == "http" else {}
                    start = time.perf_counter()
                    calls[name](path, caption, **extra)
                    if i >= 5:  # the first calls open sessions
                        times[name].append(time.perf_counter() - start)
    finally:
        server.stop()
    return times


# ---------------------------------------------------------------- 2. throughput
def load_test(run: Path, table: Path, seconds: float, clients: int, work: Path, flags: list[str]) -> dict:
    import httpx

    inputs = [(p.read_bytes(), c) for p, c in fresh_inputs(table, work / "load", 64, "load", seed=3)]
    server = Server(run, *flags)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def client_loop(k: int) -> None:
        with httpx.Client(timeout=60) as client:
            i = k
            while time.time() < stop_at:
                image, caption = inputs[i % len(inputs)]
                start = time.perf_counter()
                try:
                    r = post(client, server.url, image, caption)
                    ok = r.status_code == 200
                    why = f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, why = False, repr(exc)
                with lock:
                    (latencies.append(time.perf_counter() - start) if ok else errors.append(why))
                i += clients

    try:
        started, cpu0 = time.time(), cpu_seconds(server.proc.pid)
        threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.time() - started, cpu_seconds(server.proc.pid) - cpu0
    finally:
        server.stop()
    return {"requests": len(latencies), "errors": errors, "wall": wall, "latencies": latencies, "cpu": cpu}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads): a measure of work that other jobs on a shared
    machine do not inflate the way they inflate wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- 3. ONNX Runtime vs PyTorch eager
def runtimes(run: Path, table: Path, work: Path, repeats: int) -> list[dict]:
    import torch

    import polymodal as pm
    from polymodal.encoders.online import ColumnEncoder
    from polymodal.export.runtime import head_runner

    p = pm.load(run)
    inputs = fresh_inputs(table, work / "rt", 32, "rt", seed=4)
    engines = {}
    for name, backend, runtime in (("PyTorch eager", "torch", "torch"), ("ONNX Runtime", "onnx", "onnx")):
        encoders = {c: ColumnEncoder(p.encoders_[c], backend=backend) for c in p.model_.modalities}
        engines[name] = (encoders, head_runner(p.model_, runtime))
    decoded = {"image": [p.encoders_["image"].loader()(path) for path, _ in inputs],
               "caption": [p.encoders_["caption"].loader()(c) for _, c in inputs]}
    rows, outputs = [], {}
    for batch in (1, 32):
        for name, (encoders, head) in engines.items():
            def forward(encoders=encoders, head=head, batch=batch):
                feats, masks = {}, {}
                for column, enc in encoders.items():
                    feats[column], masks[column] = enc(decoded[column][:batch])
                return head(feats, masks)

            forward()  # warm up: sessions, export
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                out = forward()
                times.append(time.perf_counter() - start)
            outputs[(name, batch)] = out
            rows.append({"engine": name, "batch": batch, "ms": 1000 * statistics.median(times),
                         "rows/s": batch / statistics.median(times)})
    diff = float(torch.max(torch.abs(outputs[("PyTorch eager", 32)] - outputs[("ONNX Runtime", 32)])))
    for r in rows:
        r["max abs diff"] = diff
    return rows


def report(args, run, lat, loads, rt) -> str:
    api50, http50, direct50 = (percentile(lat[k], 50) for k in ("api", "http", "direct"))
    lines = ["## Serving: /predict latency, throughput under concurrency, ONNX Runtime vs PyTorch", "",
             f"Command: `{' '.join(shlex.quote(a) for a in ['python', *sys.argv])}`", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + f"; {load_average()} at the end "
             "(the machine is shared with other jobs: compare ratios within this run).", "",
             f"Run: `{run}` (openmoji, label `group`, image + caption, EfficientNet-Lite0 + MiniLM, concat; fitted as "
             "the script does without `--run`: `polymodal fit openmoji --label group --fusion concat --no-baselines "
             "--epochs 15 --ignore subgroup --ignore audio`). Each "
             "request: one PNG emoji (618x618) + its caption, never seen before by any cache.", "",
             "### /predict latency, one request at a time", "",
             "| path | requests | p50 ms | p99 ms |", "|---|---:|---:|---:|",
             f"| Python API `Predictor.predict_proba(one-row DataFrame)`, same process | {len(lat['api'])} | "
             f"{api50:.1f} | {percentile(lat['api'], 99):.1f} |",
             f"| the server's path in process (`PredictService`: decode, encode, head; no HTTP, no cache) | "
             f"{len(lat['direct'])} | {direct50:.1f} | {percentile(lat['direct'], 99):.1f} |",
             f"| HTTP `POST /predict` (multipart, `polymodal serve`, loopback) | {len(lat['http'])} | {http50:.1f} | "
             f"{percentile(lat['http'], 99):.1f} |", "",
             f"Overhead of the HTTP path at p50 against the Python API: **{100 * (http50 / api50 - 1):+.1f}%** "
             f"(target <= +20%); against the same computation in process (the cost of HTTP, multipart and the "
             f"upload's temp file alone): {100 * (http50 / direct50 - 1):+.1f}%."
             + (" The Python API takes longer than the server's own path: it also validates the table and writes each "
                "new input's features into the feature cache." if api50 > direct50 else ""),
             "",
             f"### {args.clients} concurrent clients for {args.seconds:g} s", "",
             "| server | requests | errors | throughput req/s | p50 ms | p99 ms | server CPU ms per request |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, res in loads.items():
        lines.append(f"| {name} | {res['requests']} | {len(res['errors'])} | {res['requests'] / res['wall']:.1f} | "
                     f"{percentile(res['latencies'], 50):.0f} | {percentile(res['latencies'], 99):.0f} | "
                     f"{1000 * res['cpu'] / max(res['requests'], 1):.1f} |")
    errors = [e for res in loads.values() for e in res["errors"]]
    if errors:
        lines += ["", f"First errors: {errors[:3]}"]
    lines += ["", "### ONNX Runtime vs PyTorch eager (encoders + fusion + head, same decoded inputs)", "",
              "| engine | batch | median ms | rows/s |", "|---|---:|---:|---:|"]
    for r in rt:
        lines.append(f"| {r['engine']} | {r['batch']} | {r['ms']:.1f} | {r['rows/s']:.1f} |")
    speed = {b: next(r for r in rt if r["engine"] == "PyTorch eager" and r["batch"] == b)["ms"]
             / next(r for r in rt if r["engine"] == "ONNX Runtime" and r["batch"] == b)["ms"] for b in (1, 32)}
    lines += ["", f"ONNX Runtime is {speed[1]:.1f}x (batch 1) and {speed[32]:.1f}x (batch 32) faster than PyTorch "
              f"eager; logits differ by at most {rt[0]['max abs diff']:.1e}."]
    return "\n".join(lines)


VARIANTS = {"default (each request alone, concurrent threads)": [],
            "`--batching` (concurrent requests batched, 2 batches at once)": ["--batching"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run")
    parser.add_argument("--table")
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    run, table = prepare_run(args)
    work = home() / "bench-serve" / f"inputs-{os.getpid()}"
    lat = latency(run, table, args.requests, work)
    print(f"latency p50 api {percentile(lat['api'], 50):.1f} ms, http {percentile(lat['http'], 50):.1f} ms", flush=True)
    loads = {}
    for name, flags in VARIANTS.items():
        loads[name] = load_test(run, table, args.seconds, args.clients, work, flags)
        print(name, loads[name]["requests"], "requests,", len(loads[name]["errors"]), "errors", flush=True)
    rt = runtimes(run, table, work, args.repeats)
    text = report(args, run, lat, loads, rt)
    print(text)
    if not args.no_write:
        write_section("serve", text)


if __name__ == "__main__":
    main()
