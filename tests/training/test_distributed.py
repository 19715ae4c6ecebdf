"""Training on several ranks (training/distributed.py): 2 gloo ranks under torchrun take the same steps as one
process at the same global batch, for a fused classifier (class-weighted loss) and for contrastive alignment;
gathering without gradient (open_clip's default) is shown not to; a fit stopped on 2 ranks resumes on 1.

The tolerance, 1e-5: the two runs add the same numbers in another order (a sum over two slices, then across
ranks, against one sum over the batch), which moves float32 results by about 1e-7 per step here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tests.launch import child_env, torchrun

from polymodal.alignment.losses import info_nce, info_nce_local, sigmoid_loss, sigmoid_loss_local
from polymodal.training import distributed
from polymodal.training.loop import steps_per_epoch

WORKER = Path(__file__).with_name("ddp_worker.py")
TOLERANCE = 1e-5


def _run(*args: str, ranks: int = 1) -> None:
    launch = torchrun(ranks) if ranks > 1 else [sys.executable]
    done = subprocess.run([*launch, str(WORKER), *args], env=child_env(OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _distance(a: Path, b: Path) -> float:
    wa, wb = load_file(a / "final.safetensors"), load_file(b / "final.safetensors")
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The single-process runs the ranks are compared with, each trained once for the module."""
    done: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in done:
            done[kind] = tmp_path_factory.mktemp(f"one-{kind}")
            _run(kind, str(done[kind]), "--epochs", "4")
        return done[kind]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fusion", "align"])
def test_two_ranks_equal_one_process(tmp_path, one_process, kind):
    _run(kind, str(tmp_path / "two"), "--epochs", "4", ranks=2)
    assert _distance(one_process(kind), tmp_path / "two") < TOLERANCE


@pytest.mark.slow
def test_gathering_without_gradient_differs(tmp_path, one_process):
    """The negative control: the same check fails when the other ranks' embeddings carry no gradient."""
    _run("align", str(tmp_path / "nograd"), "--epochs", "4", "--no-grad-gather", ranks=2)
    assert _distance(one_process("align"), tmp_path / "nograd") > 100 * TOLERANCE


@pytest.mark.slow
def test_resume_from_two_ranks_on_one(tmp_path, one_process):
    _run("fusion", str(tmp_path / "split"), "--epochs", "4", "--stop-after", "3", ranks=2)
    assert not (tmp_path / "split" / "final.safetensors").exists()  # it did stop early
    _run("fusion", str(tmp_path / "split"), "--epochs", "4", "--resume")
    assert _distance(one_process("fusion"), tmp_path / "split") < TOLERANCE


# ------------------------------------------------------------------ one process: the pieces, checked exactly
def test_local_rows_cover_the_batch_in_order():
    idx = torch.arange(11) * 3
    parts = [distributed.local_rows(idx, distributed.World(r, 3)) for r in range(3)]
    assert [len(p) for p in parts] == distributed.slice_sizes(11, distributed.World(0, 3)) == [4, 4, 3]
    assert torch.equal(torch.cat(parts), idx)
    assert torch.equal(distributed.local_rows(idx, distributed.World()), idx)


def test_a_trailing_batch_smaller_than_the_world_is_skipped():
    assert steps_per_epoch(33, 16, world=1) == 2  # 16 + 16 + 1: the batch of one is skipped, as before
    assert steps_per_epoch(34, 16, world=2) == 3
    assert steps_per_epoch(34, 16, world=4) == 2  # 2 rows cannot be shared by 4 ranks


@pytest.mark.parametrize("sizes", [[6], [3, 3], [4, 2], [2, 2, 2]])
def test_local_contrastive_parts_sum_to_the_whole_loss(sizes):
    g = torch.Generator().manual_seed(0)
    za = torch.nn.functional.normalize(torch.randn(6, 5, generator=g), dim=1)
    zb = torch.nn.functional.normalize(torch.randn(6, 5, generator=g), dim=1)
    keys = torch.tensor([0, 1, 1, 2, 3, 0])  # shared keys: several positives per row
    scale, bias = torch.tensor(2.0), torch.tensor(-1.0)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    parts = [slice(s, s + n) for s, n in zip(starts, sizes, strict=True)]
    nce = sum(info_nce_local(za[p], zb[p], za, zb, keys[p], keys, scale) for p in parts) / 6
    sig = sum(sigmoid_loss_local(za[p], zb, keys[p], keys, scale, bias) for p in parts) / 6
    torch.testing.assert_close(nce, info_nce(za, zb, keys, scale))
    torch.testing.assert_close(sig, sigmoid_loss(za, zb, keys, scale, bias))


def test_one_process_needs_no_process_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    w = distributed.world()
    assert (w.rank, w.size, w.main, w.active) == (0, 1, True, False)
    assert not torch.distributed.is_initialized()
    assert distributed.decide(3.5, w) == 3.5


def test_a_bad_world_size_is_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(Exception, match="WORLD_SIZE='two'"):
        distributed.world()
