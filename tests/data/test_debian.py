"""Debian packages as a data source: ar + tar unpacking in Python, the cache, apt-get's errors."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from polymodal.data.recipes import debian
from polymodal.errors import PolymodalError

PREFIX = "usr/share/icons/breeze"


def _ar(members: dict[str, bytes]) -> bytes:
    """A System V ar archive, the container of a .deb (odd members padded to even length)."""
    out = bytearray(b"!<arch>\n")
    for name, data in members.items():
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode("ascii") + data
        out += b"\n" if len(data) % 2 else b""
    return bytes(out)


def _tar(files: dict[str, bytes], links: dict[str, str] | None = None, mode: str = "w:xz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"./{name}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def write_deb(folder: Path, name: str = "breeze-icon-theme_4%3a5.1-1_all.deb") -> Path:
    """A small .deb: an icon, its alias and index.theme under the theme, one file outside it."""
    data = _tar({f"{PREFIX}/actions/22/go-up.svg": b"<svg/>",
                 f"{PREFIX}/index.theme": b"[Icon Theme]",
                 "usr/share/doc/breeze-icon-theme/copyright": b"LGPL-3+"},
                {f"{PREFIX}/status/22/up.svg": "../../actions/22/go-up.svg"})
    deb = folder / name
    deb.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.xz": b"x", "data.tar.xz": data}))
    return deb


def test_unpack_keeps_the_prefix_and_its_symlinks(tmp_path):
    deb = write_deb(tmp_path)
    members = debian.ar_members(deb.read_bytes())
    assert set(members) == {"debian-binary", "control.tar.xz", "data.tar.xz"}
    assert debian.unpack_deb(deb, tmp_path / "out", PREFIX) == 3
    theme = tmp_path / "out" / PREFIX
    alias = theme / "status/22/up.svg"
    assert alias.is_symlink() and alias.read_bytes() == b"<svg/>"
    assert not (tmp_path / "out/usr/share/doc").exists()
    assert debian.deb_version(deb) == "4:5.1-1"


def test_a_file_that_is_no_deb_is_named(tmp_path):
    with pytest.raises(PolymodalError, match="not a Debian package"):
        debian.ar_members(b"PK\x03\x04", "thing.deb")
    no_data = tmp_path / "empty.deb"
    no_data.write_bytes(_ar({"debian-binary": b"2.0\n"}))
    with pytest.raises(PolymodalError, match=r"no data\.tar"):
        debian.unpack_deb(no_data, tmp_path / "out", PREFIX)


def test_fetch_downloads_once_then_reads_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake_download(package: str, folder: Path) -> Path:
        calls.append(package)
        folder.mkdir(parents=True)
        return write_deb(folder)

    monkeypatch.setattr(debian, "download_deb", fake_download)
    root, record = debian.fetch_package("breeze-icon-theme", PREFIX, tmp_path)
    again, same = debian.fetch_package("breeze-icon-theme", PREFIX, tmp_path)
    assert calls == ["breeze-icon-theme"] and (again, same) == (root, record)
    assert record == {"package": "breeze-icon-theme", "version": "4:5.1-1",
                      "deb": "breeze-icon-theme_4%3a5.1-1_all.deb", "prefix": PREFIX, "files": 3}
    assert (root / PREFIX / "actions/22/go-up.svg").is_file()
    assert len(list(tmp_path.iterdir())) == 1  # no partial folder left beside the copy
    other, _ = debian.fetch_package("breeze-icon-theme", "usr/share/doc", tmp_path)
    assert other != root and len(calls) == 2  # another subtree is another copy


def test_a_killed_fetch_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(debian, "download_deb", lambda package, folder: write_deb(_made(folder)))
    dead = tmp_path / ".breeze-icon-theme+usr+share+icons+breeze.partial-999999999"
    (dead / "deb").mkdir(parents=True)
    debian.fetch_package("breeze-icon-theme", PREFIX, tmp_path)
    assert not dead.exists()


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def test_missing_apt_get_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get on it
    with pytest.raises(PolymodalError, match="apt-get is not installed"):
        debian.download_deb("breeze-icon-theme", tmp_path / "deb")


def test_apt_get_failure_names_the_package(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "apt-get"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'E: Unable to locate package nothing-here' >&2\nexit 100\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    message = r"apt-get download nothing-here failed .*Unable to locate"
    with pytest.raises(PolymodalError, match=message):
        debian.download_deb("nothing-here", tmp_path / "deb")


def test_zstd_data_is_read_through_dpkg_deb(tmp_path):
    """Ubuntu compresses data.tar with zstd, which Python's tarfile cannot open."""
    if not (shutil.which("zstd") and shutil.which("dpkg-deb")):
        pytest.skip("needs the zstd and dpkg-deb programs to make and read a zstd package")
    plain = tmp_path / "data.tar"
    plain.write_bytes(_tar({f"{PREFIX}/actions/22/go-up.svg": b"<svg/>"}, mode="w"))
    subprocess.run(["zstd", "-q", str(plain)], check=True)
    deb = tmp_path / "breeze-icon-theme_1.0-1_all.deb"
    control = _tar({"control": b"Package: breeze-icon-theme\nVersion: 1.0-1\n"}, mode="w")
    deb.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar": control,
                         "data.tar.zst": plain.with_suffix(".tar.zst").read_bytes()}))
    assert debian.unpack_deb(deb, tmp_path / "out", PREFIX) == 1
    assert (tmp_path / "out" / PREFIX / "actions/22/go-up.svg").read_bytes() == b"<svg/>"

