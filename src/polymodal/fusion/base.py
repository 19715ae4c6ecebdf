"""The fusion contract and registry.

A fusion module is built from flat typed arguments, `in_dims: dict[str, int]`
(modality -> feature size) and `out_dim: int` plus its own options, and maps
`feats: dict[str, Tensor]` (each `[B, D_m]`, or `[B, N_m, D_m]` for fusions
with `uses_tokens`) and `masks: dict[str, Tensor]` (`[B]` bools, True where
the modality is present) to `[B, out_dim]`.

Rules every entry obeys (the contract tests check them):
- the result does not depend on the order of the dict keys;
- a masked-out modality has no effect on its row's output, whatever its values;
- a row with every modality masked still gets a finite output.

`output_is_logits = True` marks decision-level fusions whose output is already
in task space (late fusion); the model then puts no head after them.

Adding a fusion: one file with a subclass decorated `@register_fusion("name")`,
and one line in `_MODULES`; the contract tests pick it up.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import PolymodalError
from ..registry import import_modules, registrar


class Fusion(nn.Module):
    name: str = ""
    uses_tokens: bool = False
    output_is_logits: bool = False

    def __init__(self, in_dims: dict[str, int], out_dim: int) -> None:
        super().__init__()
        if not in_dims:
            raise PolymodalError("a fusion needs at least one modality")
        self.modalities = sorted(in_dims)  # fixed order: never the caller's dict order
        self.in_dims = {m: int(in_dims[m]) for m in self.modalities}
        self.out_dim = int(out_dim)

    def forward(self, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def options_from_weights(cls, weights: dict[str, torch.Tensor], options: dict) -> dict:
        """The constructor options that saved `weights` (this fusion's own, unprefixed) were built with,
        given the options a run recorded: a run written before a default changed records no value for it."""
        return options


FUSIONS: dict[str, type[Fusion]] = {}
_MODULES = ("concat", "weighted_sum", "gated", "attention", "cross_attention", "tensor", "low_rank", "late",
            "linear")


register_fusion = registrar(FUSIONS)  # @register_fusion(name) on a class registers it


def load_all() -> None:
    """Import every module of this registry so that each registers itself."""
    import_modules(__package__, _MODULES)


def options_for_weights(name: str, weights: dict[str, torch.Tensor], options: dict, prefix: str = "fusion."
                        ) -> dict:
    """`options` completed from a saved model's weights (keys under `prefix`) by the fusion's own rule."""
    load_all()
    own = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    return FUSIONS[name].options_from_weights(own, dict(options)) if name in FUSIONS else dict(options)


def fusion_names() -> list[str]:
    load_all()
    return sorted(FUSIONS)


def build_fusion(name: str, *, in_dims: dict[str, int], out_dim: int, **kwargs) -> Fusion:
    load_all()
    if name not in FUSIONS:
        raise PolymodalError(f"unknown fusion {name!r}; valid: {', '.join(sorted(FUSIONS))}")
    return FUSIONS[name](in_dims=in_dims, out_dim=out_dim, **kwargs)


def masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the rows of `x` whose modality is absent (works for [B, D] and [B, N, D]).

    `where`, not a multiply: 0 * nan and 0 * inf are nan, so a multiply would let
    the values of an absent modality leak through."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    return torch.where(mask.bool().view(shape), x, x.new_zeros(()))


def modality_dropout(masks: dict[str, torch.Tensor], p: float, generator: torch.Generator | None = None
                     ) -> dict[str, torch.Tensor]:
    """Training-time modality dropout: hide each present modality with probability `p`,
    but never hide every modality of a row that had at least one."""
    if p <= 0:
        return masks
    names = sorted(masks)
    stacked = torch.stack([masks[m].bool() for m in names], dim=1)  # [B, M]
    keep = _uniform(stacked, generator) >= p
    dropped = stacked & keep
    empty = dropped.sum(1) == 0
    if empty.any():  # restore one present modality, chosen at random, in rows left with none
        scores = _uniform(stacked, generator) + stacked  # present in [1, 2), absent in [0, 1)
        pick = torch.nn.functional.one_hot(scores.argmax(1), len(names)).bool() & stacked
        dropped = torch.where(empty[:, None], pick, dropped)
    return {m: dropped[:, i] for i, m in enumerate(names)}


def _uniform(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) shaped and placed like `like`, drawn on the generator's own device
    (a CPU generator cannot draw CUDA numbers)."""
    device = generator.device if generator is not None else like.device
    return torch.rand(like.shape, generator=generator, device=device).to(like.device)
