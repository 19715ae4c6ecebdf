"""The feature cache's key table on disk: which shard and row holds each input's features.

It replaces the index that every process rebuilt in Python dicts from every shard's header (about 215 MiB per
1M keys, in each process). It is a SQLite file, `keys.sqlite`, beside the shards (SQLite because it is in the
standard library, takes concurrent readers and writers across processes, and answers a join of a million keys
in seconds without loading the table). Keys are stored as their 20 raw sha1 bytes.

The shard files stay the truth; the table is derived from their headers and synced lazily: `sync` adds the
shards it has not seen (written by this or any other process, or copied in from another machine's cache) and
drops the rows of shards that are gone (compacted away). A key found in two shards (two writers computed it at
once) has a row for each; a lookup takes the oldest shard's, the rule the dict index had. Where the table cannot
be written (a read-only cache) it lives in memory for this process; a damaged file is rebuilt from the shards.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

logger = logging.getLogger("polymodal")
FILE = "keys.sqlite"
CHUNK = 50_000  # keys per executemany while syncing or looking up: bounded memory, few round trips

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shards (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, rows INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entries (key BLOB NOT NULL, shard INTEGER NOT NULL, row INTEGER NOT NULL,
                                    PRIMARY KEY (key, shard)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_shard ON entries (shard);
"""


class KeyTable:
    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / FILE
        self._db: sqlite3.Connection | None = None

    # ------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            db = self._open(str(self.path))
        except sqlite3.DatabaseError as exc:  # damaged, or a read-only folder: rebuild, or keep it in memory
            db = self._recover(exc)
        self._db = db
        return db

    @staticmethod
    def _open(where: str) -> sqlite3.Connection:
        db = sqlite3.connect(where, timeout=600.0, isolation_level=None)  # writers wait for each other
        if where != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
        db.execute("PRAGMA synchronous=NORMAL")  # the table is derived: a crash loses nothing the shards lack
        db.execute("PRAGMA temp_store=MEMORY")  # the asked keys of a lookup never touch the disk
        db.executescript(_SCHEMA)
        return db

    def _recover(self, exc: Exception) -> sqlite3.Connection:
        if self.path.exists() and "not a database" in str(exc).lower():
            logger.warning("%s: damaged (%s); rebuilt from the shard files", self.path, exc)
            for suffix in ("", "-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            try:
                return self._open(str(self.path))
            except sqlite3.DatabaseError:
                pass
        logger.info("%s: cannot be written (%s); the key table is kept in memory", self.path, exc)
        return self._open(":memory:")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ------------------------------------------------------------ sync with the shard files
    def sync(self, shards: Sequence[Path], keys_of: Callable[[Path], list[str]]) -> None:
        """Make the table describe exactly `shards` (the folder's shard files now)."""
        db = self._connect()
        names = {p.name: p for p in shards}
        known = {name for (name,) in db.execute("SELECT name FROM shards")}
        if known == set(names):
            return
        try:
            self._write(db, names, keys_of)
        except sqlite3.OperationalError as exc:  # the file turned read-only or full: this process goes on in memory
            if self.path.exists() and db is not self._db:
                raise
            logger.info("%s: cannot be updated (%s); the key table is kept in memory", self.path, exc)
            self._db = self._open(":memory:")
            self._write(self._db, names, keys_of)

    @staticmethod
    def _write(db: sqlite3.Connection, names: dict[str, Path], keys_of: Callable[[Path], list[str]]) -> None:
        db.execute("BEGIN IMMEDIATE")  # one writer at a time; what another wrote meanwhile is read again below
        try:
            ids = dict(db.execute("SELECT name, id FROM shards"))
            for name in sorted(set(ids) - set(names)):
                db.execute("DELETE FROM entries WHERE shard = ?", (ids[name],))
                db.execute("DELETE FROM shards WHERE id = ?", (ids[name],))
            for name in sorted(set(names) - set(ids)):  # shard names sort by creation time: oldest first
                try:
                    keys = keys_of(names[name])
                except FileNotFoundError:  # compacted away meanwhile
                    continue
                shard = db.execute("INSERT INTO shards (name, rows) VALUES (?, ?)", (name, len(keys))).lastrowid
                for lo in range(0, len(keys), CHUNK):
                    db.executemany("INSERT OR IGNORE INTO entries VALUES (?, ?, ?)",
                                   ((bytes.fromhex(k), shard, lo + i) for i, k in enumerate(keys[lo:lo + CHUNK])))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------ reading
    def lookup(self, keys: Iterable[str]) -> dict[str, tuple[str, int]]:
        """key -> (shard file name, row) for the `keys` that are in the table; the oldest shard where two hold one."""
        db = self._connect()
        found: dict[str, tuple[str, int]] = {}
        keys = list(dict.fromkeys(keys))
        db.execute("CREATE TEMP TABLE IF NOT EXISTS asked (key BLOB PRIMARY KEY) WITHOUT ROWID")
        for lo in range(0, len(keys), CHUNK):
            db.execute("BEGIN")  # one transaction for the chunk: autocommit made each insert its own (13 µs a key)
            db.execute("DELETE FROM asked")
            db.executemany("INSERT OR IGNORE INTO asked VALUES (?)", ((bytes.fromhex(k),) for k in keys[lo:lo + CHUNK]))
            db.execute("COMMIT")
            # CROSS JOIN: SQLite then loops over the asked keys and probes the entries' primary key; with a plain
            # JOIN and no statistics it scanned every entry (27 s for 65,536 keys against 4M, not 0.1 s)
            rows = db.execute("SELECT a.key, s.name, e.row FROM asked a CROSS JOIN entries e ON e.key = a.key "
                              "CROSS JOIN shards s ON s.id = e.shard ORDER BY s.name DESC")
            for key, name, row in rows:  # oldest last: it overwrites
                found[key.hex()] = (name, row)
        return found

    def count(self) -> int:
        """Distinct keys."""
        return int(self._connect().execute("SELECT COUNT(DISTINCT key) FROM entries").fetchone()[0])

    def shard_rows(self) -> dict[str, int]:
        """Rows per shard file name, as last synced."""
        return dict(self._connect().execute("SELECT name, rows FROM shards"))
