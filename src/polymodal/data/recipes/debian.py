"""Debian packages as a data source, without root: `apt-get download` a .deb into a cache
folder and unpack the files a recipe needs in pure Python.

A .deb is an `ar` archive holding `debian-binary`, `control.tar.*` and `data.tar.*`; reading it
here (stdlib `tarfile` opens .xz, .gz and .bz2; `dpkg-deb` is asked only for zstd, Ubuntu's
choice) needs no write access to /usr. A package is fetched and unpacked once: the unpacked
folder is renamed into place with a `package.json` beside its files, so a later build reads the
cache and needs no network at all.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import urllib.parse
from pathlib import Path

from ...errors import PolymodalError
from ...runs.files import process_alive, read_json, write_json

APT_TIMEOUT_S = 300
_AR_MAGIC = b"!<arch>\n"


def ar_members(data: bytes, name: str = "archive") -> dict[str, bytes]:
    """The members of a (System V / GNU) `ar` archive, by name."""
    if not data.startswith(_AR_MAGIC):
        raise PolymodalError(f"{name} is not a Debian package (no ar header)")
    members, at = {}, len(_AR_MAGIC)
    while at + 60 <= len(data):
        header = data[at:at + 60]
        try:
            size = int(header[48:58])
        except ValueError as exc:
            raise PolymodalError(f"{name}: damaged ar header at byte {at}") from exc
        member = header[:16].decode("ascii").strip().rstrip("/")  # GNU ar ends names with '/'
        members[member] = data[at + 60:at + 60 + size]
        at += 60 + size + size % 2  # members are padded to an even length
    return members


def unpack_deb(deb: Path, dest: Path, prefix: str) -> int:
    """Extract the files of `deb` under `prefix` (e.g. 'usr/share/icons/breeze') into `dest`,
    keeping the package's relative layout and symlinks; return how many were written."""
    if not hasattr(tarfile, "data_filter"):
        raise PolymodalError("unpacking a Debian package safely needs tarfile's extraction filters "
                             "(Python 3.10.12+, 3.11.4+ or 3.12+); upgrade Python")
    prefix = prefix.strip("/") + "/"
    with tarfile.open(fileobj=io.BytesIO(data_tar(deb)), mode="r:*") as tar:
        chosen = [m for m in tar.getmembers() if m.name.removeprefix("./").startswith(prefix)]
        # The 'data' filter refuses absolute paths, links leaving `dest` and device files.
        tar.extractall(dest, members=chosen, filter="data")
    return len(chosen)


def data_tar(deb: Path) -> bytes:
    """The package's file tree as tar bytes: its data.tar.{xz,gz,bz2} member as stored, or, for
    zstd (Ubuntu's default, which Python's tarfile cannot read), as `dpkg-deb` decompresses it."""
    members = ar_members(deb.read_bytes(), deb.name)
    name = next((m for m in members if m.startswith("data.tar")), None)
    if name is None:
        raise PolymodalError(f"{deb.name} holds no data.tar.* member (members: {sorted(members)})")
    if not name.endswith(".zst"):
        return members[name]
    try:
        done = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                              check=False)
    except FileNotFoundError as exc:
        raise PolymodalError(f"{deb.name}: {name} is zstd-compressed and dpkg-deb, which reads it, "
                             "is not installed") from exc
    if done.returncode != 0:
        raise PolymodalError(f"dpkg-deb --fsys-tarfile {deb.name} failed: "
                             f"{done.stderr.decode(errors='replace').strip()[-300:]}")
    return done.stdout


def download_deb(package: str, folder: Path) -> Path:
    """`apt-get download PACKAGE` into `folder` (no root needed); the path of the .deb."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["apt-get", "download", package], cwd=folder, capture_output=True,
                              text=True, timeout=APT_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise PolymodalError(f"cannot fetch Debian package {package!r}: apt-get is not installed "
                             "(this source needs a Debian or Ubuntu machine)") from exc
    except subprocess.TimeoutExpired as exc:
        raise PolymodalError(f"apt-get download {package} took over {APT_TIMEOUT_S} s: "
                             "is the Debian mirror reachable?") from exc
    debs = sorted(folder.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PolymodalError(f"apt-get download {package} failed (exit {done.returncode}): "
                             "is the Debian mirror reachable and the package in apt's lists? "
                             f"apt said: {' | '.join(tail)}")
    return debs[-1]


def deb_version(deb: Path) -> str:
    """The version from a .deb's file name (`name_version_arch.deb`, ':' written as '%3a')."""
    parts = urllib.parse.unquote(deb.name).split("_")
    return parts[1] if len(parts) == 3 else "?"


def fetch_package(package: str, prefix: str, cache: Path) -> tuple[Path, dict]:
    """The unpacked files of `package` under `prefix`, from the cache or fetched into it.

    Returns the unpacked root (the package's `prefix` lies under it) and the package record
    (name, version, .deb file name, files). Concurrent builds each unpack into their own
    temporary folder; the first rename wins and the others use its result.
    """
    final = cache / f"{package}+{prefix.strip('/').replace('/', '+')}"  # one copy per subtree
    if (final / "package.json").exists():
        return final / "files", read_json(final / "package.json")
    _remove_dead_partials(final)
    work = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:
        deb = download_deb(package, work / "deb")
        count = unpack_deb(deb, work / "files", prefix)
        if count == 0:
            raise PolymodalError(f"{deb.name} has no files under {prefix!r}")
        record = {"package": package, "version": deb_version(deb), "deb": deb.name,
                  "prefix": prefix, "files": count}
        write_json(work / "package.json", record)
        shutil.rmtree(work / "deb")  # the unpacked files are what builds read
        try:
            os.replace(work, final)
        except OSError:  # another build renamed its copy first
            if not (final / "package.json").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final / "files", read_json(final / "package.json")


def _remove_dead_partials(final: Path) -> None:
    """Work folders left by fetches that were killed (a killed process runs no clean-up)."""
    for work in final.parent.glob(f".{final.name}.partial-*"):
        pid = work.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(work, ignore_errors=True)
