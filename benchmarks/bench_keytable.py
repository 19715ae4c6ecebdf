"""The feature cache's key table (encoders/keytable.py) against the index it replaced (every key of every shard in
a Python dict, built from the shards' headers in each process), the baseline, on caches of 1M and 4M keys.

For each cache size, in fresh processes (`ru_maxrss`), median of `--repeats`:
- sync: the first lookup after the shards were written (the table is built from their headers once);
- lookup: one batch of 65,536 keys (a streamed batch) against the synced table, as every later process does;
- dict: the old index of every key, then the same batch looked up in it.

Shards hold 1,024 keys each (the cache's `SHARD_ROWS`) and 4-float features (the key table does not read them).

    python benchmarks/bench_keytable.py [--keys 1000000 4000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import command_line, head, publish

HERE = Path(__file__).resolve()
BATCH = 65_536
CODE = """
import hashlib, resource, sys, time
from pathlib import Path
from polymodal.encoders.cache import ShardStore
store, mode, n = ShardStore(Path(sys.argv[1])), sys.argv[2], int(sys.argv[3])
asked = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(0, n, max(1, n // 65536))][:65536]
t = time.perf_counter()
if mode == "dict":
    index = {}
    for shard in store.shards():
        for row, key in enumerate(store.keys(shard)):
            index.setdefault(key, (shard, row))
    found = {k: index[k] for k in asked if k in index}
else:
    found = store.lookup(asked)
assert len(found) == len(asked)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build(folder: Path, keys: int) -> None:
    from polymodal.encoders.cache import ShardStore

    store = ShardStore(folder)
    for start in range(0, keys, 1024):
        names = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(start, min(start + 1024, keys))]
        store.write(names, np.zeros((len(names), 4), np.float32))


def run(folder: Path, mode: str, keys: int) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", CODE, str(folder), mode, str(keys)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    body = ["| keys cached | sync s (once) | lookup s | lookup peak MiB | dict index s | dict peak MiB | "
            "dict / table peak |", "|---:|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for keys in args.keys:
            folder = Path(tmp) / f"cache-{keys}"
            build(folder, keys)
            syncs, looks, dicts = [], [], []
            for _ in range(args.repeats):
                (folder / "keys.sqlite").unlink(missing_ok=True)
                for extra in folder.glob("keys.sqlite-*"):
                    extra.unlink()
                syncs.append(run(folder, "table", keys))
                looks.append(run(folder, "table", keys))
                dicts.append(run(folder, "dict", keys))
            sync_s = statistics.median(t for t, _ in syncs)
            look_s, look_m = (statistics.median(x[i] for x in looks) for i in range(2))
            dict_s, dict_m = (statistics.median(x[i] for x in dicts) for i in range(2))
            body.append(f"| {keys:,} | {sync_s:.1f} | {look_s:.2f} | {look_m:,.0f} | {dict_s:.1f} | {dict_m:,.0f} | "
                        f"{dict_m / look_m:.2f} |")
            print(body[-1], flush=True)
    opening = head("Feature cache: the on-disk key table against a dict of every key", command_line(
        "bench_keytable.py", argv), f"A batch of {BATCH:,} keys looked up; peak RSS of a fresh process (the "
        "interpreter, numpy and torch included), median of the repeats.")
    publish("keytable", opening, body, write=not args.no_write)


if __name__ == "__main__":
    main()
