"""Contract of every closed-form alignment method (alignment/methods/), on tiny synthetic pairs:
embedding shape and unit rows, save/load of its tensors gives the same embeddings, the same input
gives the same output, bad input is a clear error. Plus golden cases: linearly related spaces."""

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from polymodal import PolymodalError
from polymodal.alignment.methods import build_method, fit_on_validation, method_names

# Reloaded tensors are the float32 values the method already embeds with, so equal to float32 rounding.
RELOAD_ATOL = 1e-6


def related(n: int, seed: int, widths=(40, 24), noise: float = 0.1) -> dict[str, np.ndarray]:
    """Columns that are noisy linear images of one 8-d latent (fixed maps, `seed` draws the rows)."""
    maps = np.random.default_rng(99)
    weights = [maps.normal(size=(8, w)) for w in widths]
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 8))
    return {c: latent @ w + noise * rng.normal(size=(n, w.shape[1])) for c, w in zip("abc", weights, strict=False)}


@pytest.mark.parametrize("name", method_names())
def test_method_contract(name, tmp_path):
    train, val = related(60, 0), related(30, 1)
    space, scores = fit_on_validation(name, ["b", "a"], 16, train, val, np.arange(30))
    assert space.columns == ["a", "b"] and scores
    for column in space.columns:
        z = space.embed(column, val[column])
        assert z.shape == (30, space.out_dim) and z.dtype == np.float32
        assert np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
        assert np.array_equal(z, space.embed(column, val[column]))
    save_file(space.tensors(), tmp_path / "m.safetensors")
    again = build_method(name, space.columns, 16, **space.options())
    again.set_tensors(load_file(tmp_path / "m.safetensors"))
    for column in space.columns:
        assert np.allclose(again.embed(column, val[column]), space.embed(column, val[column]), atol=RELOAD_ATOL)
    with pytest.raises(PolymodalError, match=r"expected features \[n, 40\]"):
        space.embed("a", val["b"])
    with pytest.raises(PolymodalError, match="not 'c'"):
        space.embed("c", val["a"])


@pytest.mark.parametrize("name", method_names())
def test_method_refit_is_deterministic_and_three_columns_work(name):
    train, val = related(60, 0, widths=(40, 24, 12)), related(30, 1, widths=(40, 24, 12))
    first, _ = fit_on_validation(name, ["a", "b", "c"], 8, train, val, np.arange(30))
    second, _ = fit_on_validation(name, ["a", "b", "c"], 8, train, val, np.arange(30))
    assert first.options() == second.options()
    for column in "abc":
        assert np.array_equal(first.embed(column, val[column]), second.embed(column, val[column]))


@pytest.mark.parametrize("name", ["cca", "procrustes", "ridge"])
def test_linear_methods_recover_linearly_related_spaces(name):
    """Few rows, exactly shared latent: every affine closed form should match nearly all pairs."""
    train, test = related(50, 0, noise=0.01), related(40, 2, noise=0.01)
    space, _ = fit_on_validation(name, ["a", "b"], 8, train, related(30, 1, noise=0.01), np.arange(30))
    sim = space.embed("a", test["a"]) @ space.embed("b", test["b"]).T
    assert (sim.argmax(1) == np.arange(40)).mean() >= 0.95
    assert (sim.argmax(0) == np.arange(40)).mean() >= 0.95


def test_cca_finds_the_canonical_correlations():
    """Two views sharing 2 latent directions and nothing else: two correlations near 1, the rest near 0."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(2000, 2))
    a = np.hstack([latent, rng.normal(size=(2000, 3))]) @ rng.normal(size=(5, 5))
    b = np.hstack([latent @ [[2.0, 0], [0, -1]], rng.normal(size=(2000, 2))])
    space = build_method("cca", ["a", "b"], 4, reg=1e-6, power=1.0)
    space.fit({"a": a, "b": b})
    assert space.correlations_[:2].min() > 0.99 and space.correlations_[2:].max() < 0.1
    za, zb = space.embed("a", a), space.embed("b", b)
    assert np.mean(np.sum(za * zb, axis=1)) > 0.95


def test_unknown_method_is_named():
    with pytest.raises(PolymodalError, match="unknown closed-form alignment method 'pca'; valid: asif, cca"):
        build_method("pca", ["a", "b"], 8)


def test_without_validation_rows_the_grid_default_is_kept():
    space, scores = fit_on_validation("cca", ["a", "b"], 8, related(40, 0))
    assert space.options() == {"reg": 0.1, "power": 4.0} and list(scores.values()) == [None]
