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

4. `--soak` (alone, its own section `serve-soak`): --clients threads for --seconds against a server of three
   tiny runs the script fits itself (predict, search, generate in a seeded mix), once open on loopback and once
   with an API key (where some requests carry no key or a wrong one and must get 401 / 403). Requests/s,
   p50/p99 per endpoint, errors (target 0) and the server's RSS after warm-up and at the end (target: growth
   <= 10%), each server --repeats times; a plot of latency and RSS over time in benchmarks/figures/.

    python benchmarks/bench_serve.py --soak [--clients 16] [--seconds 60] [--warmup 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import BENCHMARKS_MD, load_average, machine, write_section
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
    """`polymodal serve TARGETS... FLAGS` on a free loopback port, up once /health answers. Its stderr goes to a
    file, not a pipe: nobody reads a pipe during a long run, and a full one would stall the server's logging."""

    def __init__(self, run: Path | list[Path], *extra: str):
        import httpx

        targets = [run] if isinstance(run, str | Path) else list(run)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "polymodal", "serve", *map(str, targets), "--port", str(self.port), *extra]
        fd, log = tempfile.mkstemp(prefix="bench-serve-", suffix=".log")
        self.log = Path(log)
        with os.fdopen(fd, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                why = self.tail()
                self.log.unlink(missing_ok=True)
                raise RuntimeError(f"server exited: {why}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("server did not start in 300 s")

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # a request stuck past the graceful shutdown
            self.proc.kill()
            self.proc.wait(30)
        self.log.unlink(missing_ok=True)


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


# ---------------------------------------------------------------- 4. soak: mixed endpoints, with and without a key
SOAK_MIX = {"predict": 0.5, "search": 0.3, "generate": 0.2}  # each client's seeded draw, the same in both modes
PROBE_SHARE = 0.1  # keyed runs: this share of requests has no key or a wrong one; 401 / 403 is the right answer
COLORS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 220)}
TINY_ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}
SOAK_FIGURE = Path(__file__).resolve().parent / "figures" / "serve-soak.png"
PROMPTS = [f"a {size} {color} {shape} {where}" for size in ("small", "large") for color in ("red", "blue")
           for shape in ("circle", "square") for where in ("on the left", "in the center")]


def colour_cell(rng, i: int) -> tuple[bytes, bytes, str]:
    """A noisy colour patch (PNG), a tone (WAV) and a caption: one row of the colour table, as bytes."""
    import io

    import soundfile as sf
    from PIL import Image

    name = list(COLORS)[i % 3]
    pixels = np.clip(np.array(COLORS[name]) + rng.normal(0, 25, (20, 20, 3)), 0, 255).astype(np.uint8)
    png, wav = io.BytesIO(), io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    t = np.arange(8000) / 16000
    sf.write(wav, (0.4 * np.sin(2 * np.pi * (300 + 150 * (i % 3)) * t)).astype(np.float32), 16000, format="WAV")
    return png.getvalue(), wav.getvalue(), f"a {name} square, number {i}"


def build_soak_runs(root: Path) -> list[Path]:
    """The served runs, small and quick to fit (about a minute on 2 cores): a colour classifier over image,
    sound, caption and a number; an image-caption alignment with an index of its images; a text-to-image
    generator on a tiny shapes table. The settings of the serving and generation tests."""
    import polymodal as pm
    from polymodal.alignment.search import build_index
    from polymodal.data.recipes import build

    rng, records = np.random.default_rng(0), []
    for folder in ("img", "snd"):
        (root / "colors-data" / folder).mkdir(parents=True, exist_ok=True)
    for i in range(36):
        png, wav, caption = colour_cell(rng, i)
        (root / "colors-data" / "img" / f"{i}.png").write_bytes(png)
        (root / "colors-data" / "snd" / f"{i}.wav").write_bytes(wav)
        records.append({"photo": f"img/{i}.png", "sound": f"snd/{i}.wav", "caption": caption,
                        "weight": float(i % 3) + rng.normal(0, 0.1), "color": list(COLORS)[i % 3]})
    table = root / "colors-data" / "table.csv"
    pd.DataFrame(records).to_csv(table, index=False)
    pm.Predictor("color", encoders=TINY_ENCODERS, epochs=3, batch_size=16, hidden=16, baselines=False,
                 progress=False).fit(table, out=root / "colors")
    pm.Aligner(["photo", "caption"], encoders={"image": TINY_ENCODERS["image"], "text": "gru"}, epochs=3,
               batch_size=16, dim=16, hidden=32, progress=False).fit(table, out=root / "align")
    build_index(pm.load(root / "align"), table, "photo", root / "photos")
    shapes = build("shapes", root / "shapes", size=48, seed=3, image_size=32, two_shape_fraction=0.0)
    pm.Generator("text-to-image", model="cgan", prompt="caption", target="image", image_size=16, width=8, z_dim=8,
                 cond_dim=16, batch_size=16, epochs=3, text_encoder="gru", evaluate_after_fit=False,
                 progress=False).fit(shapes, out=root / "painter")
    return [root / "colors", root / "photos", root / "painter"]


def soak_request(client, url: str, op: str, rng, cells: list, headers: dict):
    """One request to endpoint `op` with seeded inputs; the response."""
    png, wav, caption = rng.choice(cells)
    if op == "predict":
        files = {"photo": ("q.png", png, "image/png"), "sound": ("q.wav", wav, "audio/wav")}
        data = {"caption": caption, "weight": f"{rng.uniform(0, 2):.3f}"}
        if rng.random() < 0.2:  # a row with missing modalities
            files, data = {}, {"caption": caption}
        return client.post(url + "/predict", files=files or None, data=data, headers=headers)
    if op == "search":
        k = str(rng.choice((1, 5, 10)))
        if rng.random() < 0.5:
            return client.post(url + "/search", data={"text": caption, "k": k}, headers=headers)
        return client.post(url + "/search", files={"image": ("q.png", png, "image/png")}, data={"k": k},
                           headers=headers)
    body = {"prompt": rng.choice(PROMPTS), "n": rng.choice((1, 4)), "seed": rng.randrange(1000)}
    return client.post(url + "/generate", json=body, headers=headers)


def soak_clients(url: str, clients: int, seconds: float, key: str | None, seed: int) -> list[dict]:
    """`clients` threads, each with its own connection and seeded mix, for `seconds`: one record a request
    (start time, endpoint, seconds, status, outcome: ok, denied as expected, or error)."""
    import random

    import httpx

    cells = [colour_cell(np.random.default_rng(seed), i) for i in range(24)]
    records: list[dict] = []  # list.append is atomic under the GIL
    t0 = time.perf_counter()
    stop_at = t0 + seconds

    def client_loop(k: int) -> None:
        # the probes draw from their own generator, so both servers get the same sequence of requests
        rng, probes = random.Random(seed * 1000 + k), random.Random(seed * 1000 + k + 500)
        with httpx.Client(timeout=120) as client:
            while time.perf_counter() < stop_at:
                probe = key is not None and probes.random() < PROBE_SHARE
                headers, expected = ({"authorization": f"Bearer {key}"} if key else {}), 200
                if probe:
                    wrong = probes.random() < 0.5
                    headers, expected = ({"x-api-key": "not-" + key} if wrong else {}), (403 if wrong else 401)
                draw = probes if probe else rng
                op = draw.choices(list(SOAK_MIX), weights=list(SOAK_MIX.values()))[0]
                start = time.perf_counter()
                try:
                    r = soak_request(client, url, op, draw, cells, headers)
                    status, why = r.status_code, f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    status, why = 0, repr(exc)
                outcome = "error" if status != expected else "denied" if probe else "ok"
                records.append({"t": start - t0, "op": op, "s": time.perf_counter() - start, "status": status,
                                "outcome": outcome, "why": why if outcome == "error" else ""})

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return records


def process_state(pid: int) -> dict:
    """Resident memory now and at its peak (VmHWM) in MB, threads and open file descriptors of a process
    (NaN and -1 once it has exited: the soak reports that as an error instead of stopping)."""
    try:
        text, fds = Path(f"/proc/{pid}/status").read_text(), len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return {"rss": float("nan"), "peak": float("nan"), "threads": -1, "fds": -1}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # a zombie: exited, not yet reaped
        return {"rss": float("nan"), "peak": float("nan"), "threads": -1, "fds": -1}
    return {"rss": int(fields["VmRSS"].split()[0]) / 1024, "peak": int(fields["VmHWM"].split()[0]) / 1024,
            "threads": int(fields["Threads"]), "fds": fds}


def upload_folders() -> int:
    """The server's per-request upload folders left in the temp folder (each should go with its request)."""
    return len(list(Path(tempfile.gettempdir()).glob("polymodal-upload-*")))


def soak_once(targets: list[Path], args, key: str | None, seed: int) -> dict:
    """A fresh server; `--warmup` s of the same load untimed, then `--seconds` s measured, RSS sampled each 0.5 s."""
    uploads = upload_folders()
    server = Server(targets, *(["--api-key", key] if key else []))
    try:
        warm = soak_clients(server.url, args.clients, args.warmup, key, seed + 500)
        start, samples, done = process_state(server.proc.pid), [], threading.Event()

        def sample() -> None:
            t0 = time.perf_counter()
            while not done.wait(0.5):
                samples.append((time.perf_counter() - t0, process_state(server.proc.pid)["rss"]))

        sampler = threading.Thread(target=sample)
        sampler.start()
        started, cpu0 = time.perf_counter(), cpu_seconds(server.proc.pid)
        records = soak_clients(server.url, args.clients, args.seconds, key, seed)
        wall, cpu = time.perf_counter() - started, cpu_seconds(server.proc.pid) - cpu0
        done.set()
        sampler.join()
        end = process_state(server.proc.pid)
        errors = [r for r in warm + records if r["outcome"] == "error"]
        if server.proc.poll() is not None:
            errors.append({"op": "server", "why": f"the server exited with code {server.proc.returncode}"})
        log = server.tail() if errors else ""
    finally:
        server.stop()
    return {"records": records, "wall": wall, "cpu": cpu, "start": start, "end": end, "rss_samples": samples,
            "errors": errors, "log": log, "uploads_left": upload_folders() - uploads}


def soak(args) -> dict[str, list[dict]]:
    """Each mode --repeats times on a fresh server, the modes taking turns (and swapping who goes first)."""
    import secrets

    key = secrets.token_urlsafe(24)
    modes = {"open (no key, loopback)": None, "with an API key": key}
    results: dict[str, list[dict]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="bench-serve-soak-") as tmp:
        started = time.perf_counter()
        targets = build_soak_runs(Path(tmp))
        args.fit_s = time.perf_counter() - started
        print(f"runs fitted in {args.fit_s:.0f} s", flush=True)
        for rep in range(args.repeats):
            for mode in (list(modes) if rep % 2 == 0 else list(modes)[::-1]):
                res = soak_once(targets, args, modes[mode], seed=rep)
                results[mode].append(res)
                ok = sum(r["outcome"] == "ok" for r in res["records"])
                print(f"{mode}, repeat {rep + 1}: {ok / res['wall']:.1f} req/s, {len(res['errors'])} errors, RSS "
                      f"{res['start']['rss']:.0f} -> {res['end']['rss']:.0f} MB", flush=True)
    return results


def soak_figures(res: dict) -> dict:
    """One soak run's figures: rates, latency percentiles per endpoint and overall, CPU and memory."""
    served = [r for r in res["records"] if r["outcome"] == "ok"]
    denied = [r for r in res["records"] if r["outcome"] == "denied"]
    lat = {op: [r["s"] for r in served if r["op"] == op] for op in SOAK_MIX}
    lat["all"], lat["401/403"] = [r["s"] for r in served], [r["s"] for r in denied]
    pct = {op: (percentile(v, 50), percentile(v, 99), len(v)) if v else (float("nan"),) * 2 + (0,)
           for op, v in lat.items()}
    return {"served": len(served), "denied": len(denied), "errors": len(res["errors"]),
            "rate": len(served) / res["wall"],
            "cpu_ms": 1000 * res["cpu"] / max(len(served) + len(denied), 1), "pct": pct,
            "rss_start": res["start"]["rss"], "rss_end": res["end"]["rss"], "rss_peak": res["end"]["peak"],
            "growth": res["end"]["rss"] / res["start"]["rss"] - 1, "uploads_left": res["uploads_left"],
            "threads": (res["start"]["threads"], res["end"]["threads"]),
            "fds": (res["start"]["fds"], res["end"]["fds"])}


def med(values) -> float:
    return float(statistics.median(values))


def soak_plot(results: dict[str, list[dict]], path: Path) -> Path | None:
    """Latency of every request over time (the last repeat of each mode), with the server's RSS."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(len(results), 1, figsize=(9, 3.2 * len(results)), sharex=True, squeeze=False)
    for ax, (mode, runs) in zip(axes[:, 0], results.items(), strict=True):
        res = runs[-1]
        for op in [*SOAK_MIX, "401/403"]:
            recs = [r for r in res["records"] if (r["op"] == op and r["outcome"] == "ok")
                    or (op == "401/403" and r["outcome"] == "denied")]
            if recs:
                ax.scatter([r["t"] for r in recs], [1000 * r["s"] for r in recs], s=3, label=op, alpha=0.6)
        ax.set_yscale("log")
        ax.set_ylabel("latency ms")
        ax.set_title(f"{mode}; black line: server RSS, dashed: 10% above its start", fontsize=10)
        mem = ax.twinx()
        mem.plot([t for t, _ in res["rss_samples"]], [m for _, m in res["rss_samples"]], color="black", lw=1)
        mem.axhline(1.1 * res["start"]["rss"], color="black", lw=0.8, ls="--")  # the 10% growth target
        mem.set_ylim(0, 1.25 * max([res["end"]["peak"], *(m for _, m in res["rss_samples"])]))
        mem.set_ylabel("server RSS MB")
        ax.legend(loc="upper left", fontsize=7, markerscale=3)
    axes[-1, 0].set_xlabel("seconds into the measured run")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def soak_report(args, results: dict[str, list[dict]], loads: tuple[str, str], figure: Path | None) -> str:
    figs = {mode: [soak_figures(r) for r in runs] for mode, runs in results.items()}
    lines = [f"## Serving soak: {args.clients} clients for {args.seconds:g} s, mixed endpoints, with and without "
             "an API key", "",
             f"Command: `{' '.join(shlex.quote(a) for a in ['python', *sys.argv])}`", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items())
             + f"; {loads[0]} at the start, {loads[1].removeprefix('load average ')} at the end (a shared machine: "
             "compare the two servers within this run).", "",
             "Served by one `polymodal serve` process on 127.0.0.1 (default settings: PyTorch head, no batching, "
             "30 s limit a request): a colour classifier (image + sound + caption + number; tiny CNN, MFCC, GRU), an "
             "index of 36 images embedded by an image-caption alignment, and a text-to-image cGAN (16 px), "
             f"fitted by the script ({args.fit_s:.0f} s for the three). Each client thread has its own connection "
             "and draws, from its own seed, predict 50% (a fifth of them caption only), search 30% (half text, half "
             "an uploaded image, k of 1, 5 or 10) and generate 20% (n of 1 or 4), one request after another. The "
             "keyed server gets the same sequence of requests, and between them, from a seed of their own, "
             f"{PROBE_SHARE:.0%} more go out with no key or a wrong one and must get 401 / 403. Error: a 5xx, a "
             "connection failure or timeout, or any other unexpected status. Each repeat starts a fresh server, runs "
             f"the same load untimed for {args.warmup:g} s, then measures; RSS from /proc at the end of the warm-up "
             "and after the last request. The clients run in the benchmark's process on the same cores, so their "
             "own work is part of each latency. Figures are medians over "
             f"{args.repeats} repeat(s); the servers take turns. 'vs open' = its req/s over the open server's; "
             "server CPU per request counts the 401 / 403 answers as requests.",
             "", *soak_tables(figs), "", *soak_findings(figs, results)]
    if figure is not None:
        lines += ["", "![latency of every request and the server's RSS over the last repeat of each server]"
                      f"({figure.relative_to(BENCHMARKS_MD.parent).as_posix()})"]
    lines += ["", "<details><summary>Each repeat</summary>", "",
              "| server | repeat | served | req/s | p50 ms | p99 ms | errors | RSS start -> end MB | threads | "
              "open files |", "|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for mode, fs in figs.items():
        lines += [f"| {mode} | {i} | {f['served']} | {f['rate']:.1f} | {f['pct']['all'][0]:.0f} | "
                  f"{f['pct']['all'][1]:.0f} | {f['errors']} | {f['rss_start']:.0f} -> {f['rss_end']:.0f} | "
                  f"{f['threads'][0]} -> {f['threads'][1]} | {f['fds'][0]} -> {f['fds'][1]} |"
                  for i, f in enumerate(fs, 1)]
    return "\n".join([*lines, "", "</details>"])


def soak_tables(figs: dict[str, list[dict]]) -> list[str]:
    base = med(f["rate"] for f in next(iter(figs.values())))
    lines = ["| server | served req/s | vs open | p50 ms | p99 ms | 401/403 as expected | errors | server CPU ms "
             "per request | RSS start MB | RSS end MB | RSS growth (worst repeat) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for mode, fs in figs.items():
        rate = med(f["rate"] for f in fs)
        lines.append(f"| {mode} | {rate:.1f} | {rate / base:.2f} | {med(f['pct']['all'][0] for f in fs):.0f} | "
                     f"{med(f['pct']['all'][1] for f in fs):.0f} | {sum(f['denied'] for f in fs)} | "
                     f"{sum(f['errors'] for f in fs)} | {med(f['cpu_ms'] for f in fs):.1f} | "
                     f"{med(f['rss_start'] for f in fs):.0f} | {med(f['rss_end'] for f in fs):.0f} | "
                     f"{100 * np.max([f['growth'] for f in fs]):+.1f}% |")
    lines += ["", "| server | endpoint | requests a run | p50 ms | p99 ms |", "|---|---|---:|---:|---:|"]
    for mode, fs in figs.items():
        for op in [*SOAK_MIX, "401/403"]:
            if any(f["pct"][op][2] for f in fs):
                lines.append(f"| {mode} | {op} | {med(f['pct'][op][2] for f in fs):.0f} | "
                             f"{med(f['pct'][op][0] for f in fs):.1f} | {med(f['pct'][op][1] for f in fs):.1f} |")
    return lines


def soak_findings(figs: dict[str, list[dict]], results: dict[str, list[dict]]) -> list[str]:
    every = [f for fs in figs.values() for f in fs]
    errors, growth = sum(f["errors"] for f in every), float(np.max([f["growth"] for f in every]))  # NaN stays
    lines = [f"Targets: errors 0 — **{'met' if errors == 0 else f'not met ({errors})'}**; RSS growth <= 10% from "
             f"the end of the warm-up to the end — **{'met' if growth <= 0.10 else 'not met'}** (worst "
             f"{100 * growth:+.1f}%; peak RSS {np.max([f['rss_peak'] for f in every]):.0f} MB). Other leaks, start of "
             "the measured run -> end: server threads "
             + ", ".join(sorted({f"{a} -> {b}" for a, b in (f["threads"] for f in every)})) + "; open files "
             + ", ".join(sorted({f"{a} -> {b}" for a, b in (f["fds"] for f in every)}))
             + f"; upload folders left in the temp folder: {sum(f['uploads_left'] for f in every)}."]
    if errors:
        first = [e for runs in results.values() for r in runs for e in r["errors"]][:5]
        logs = [r["log"] for runs in results.values() for r in runs if r["log"]]
        lines += ["", "First errors: " + "; ".join(f"`{e['op']}` {e['why'][:200]}" for e in first)]
        lines += ["", "Server log, end:", "", "```", logs[0][-1500:].strip(), "```"] if logs else []
    return lines


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
    parser.add_argument("--soak", action="store_true", help="only the soak test (4.): its own section")
    parser.add_argument("--run")
    parser.add_argument("--table")
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="soak: untimed seconds of load before each run")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--repeats", type=int, help="timed passes (default 7), or soak runs of each server (3)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.soak:
        return main_soak(args)
    args.repeats = args.repeats or 7
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


def main_soak(args) -> None:
    args.repeats = args.repeats or 3
    before = load_average()
    results = soak(args)
    figure = None if args.no_write else soak_plot(results, SOAK_FIGURE)
    text = soak_report(args, results, (before, load_average()), figure)
    print(text)
    if not args.no_write:
        write_section("serve-soak", text)


if __name__ == "__main__":
    main()
