"""LightGBM's trees as tensor operations, so a booster can be traced into an ONNX graph with the rest of a
model (an ensemble's neural members, its neighbours) and run by ONNX Runtime.

Each tree is evaluated the way Hummingbird's "GEMM" strategy does (Nakandala et al. 2020, "A Tensor Compiler
for Unified Machine Learning Prediction Serving"): every internal node's decision at once (`[B, T, N]`, True
= go left), then a leaf is reached when all the decisions on its path agree with it: the path matrix holds +1
where the leaf lies under a node's left child, -1 under its right child, and a row reaches the leaf when its
decisions times that matrix equal the number of left turns on the path. Trees are padded to the widest one.
Written here, on LightGBM's own JSON dump (`Booster.dump_model`), rather than through `hummingbird-ml` or
`onnxmltools`: about a hundred lines, where those bring their own converters' versions of torch and onnx.

Decisions follow LightGBM's (`tree.h`, `NumericalDecision` / `CategoricalDecision`): a NaN is read as 0 unless
the node's missing type is NaN; a missing value (NaN, or a zero under missing type Zero) goes to the node's
default side; otherwise left when value <= threshold. A categorical node sends a value left when its integer
is in the node's set, and NaN or a negative value right. Comparisons run in float64, as LightGBM's do.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

ZERO = 1e-35  # LightGBM's kZeroThreshold
MISSING = {"None": 0, "Zero": 1, "NaN": 2}


def _walk(node: dict, path: list[tuple[int, int]], nodes: list[dict], leaves: list[tuple[float, list]]) -> None:
    if "leaf_value" in node:
        leaves.append((float(node["leaf_value"]), list(path)))
        return
    index = len(nodes)
    nodes.append(node)
    _walk(node["left_child"], [*path, (index, 1)], nodes, leaves)
    _walk(node["right_child"], [*path, (index, -1)], nodes, leaves)


class TreeTensors(nn.Module):
    """`forward(x [B, F] with NaN for absent) -> [B, outputs]`: the booster's raw scores (multiclass logits, or
    the regression value)."""

    def __init__(self, dump: dict):
        super().__init__()
        trees = []
        for info in dump["tree_info"]:
            nodes, leaves = [], []
            _walk(info["tree_structure"], [], nodes, leaves)
            trees.append((nodes, leaves))
        count, width = len(trees), max(1, *(len(n) for n, _ in trees))
        depth = max(len(leaves) for _, leaves in trees)
        cats = max([1, *(len(str(n["threshold"]).split("||")) for nodes, _ in trees for n in nodes
                         if n["decision_type"] == "==")])
        # filled in numpy: built inside a traced forward, torch element writes would each become a graph node
        feature = np.zeros((count, width), dtype=np.int64)
        threshold = np.zeros((count, width))
        default_left = np.zeros((count, width), dtype=bool)
        missing = np.zeros((count, width), dtype=np.int64)
        categorical = np.zeros((count, width), dtype=bool)
        sets = np.full((count, width, cats), -1.0)
        path = np.zeros((count, width, depth), dtype=np.float32)  # small integers: exact in float32
        turns = np.full((count, depth), -1.0, dtype=np.float32)  # padded leaves: never reached
        value = np.zeros((count, depth))
        for t, (nodes, leaves) in enumerate(trees):
            for n, node in enumerate(nodes):
                feature[t, n] = int(node["split_feature"])
                default_left[t, n] = bool(node["default_left"])
                missing[t, n] = MISSING[node["missing_type"]]
                if node["decision_type"] == "==":
                    categorical[t, n] = True
                    members = [float(v) for v in str(node["threshold"]).split("||")]
                    sets[t, n, : len(members)] = members
                else:
                    threshold[t, n] = float(node["threshold"])
            for leaf, (leaf_value, steps) in enumerate(leaves):
                value[t, leaf] = leaf_value
                turns[t, leaf] = sum(1 for _, side in steps if side > 0)
                for n, side in steps:
                    path[t, n, leaf] = side
        outputs = int(dump.get("num_tree_per_iteration", 1))
        self.outputs, self.has_categorical = outputs, bool(categorical.any())
        for name, array in (("feature", feature), ("threshold", threshold), ("default_left", default_left),
                            ("missing", missing), ("categorical", categorical), ("sets", sets), ("path", path),
                            ("turns", turns), ("value", value), ("tree_output", np.arange(count) % outputs)):
            self.register_buffer(name, torch.from_numpy(array), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        v = x[:, self.feature]  # [B, T, N]
        nan = torch.isnan(v)
        numeric = torch.where(nan & (self.missing != MISSING["NaN"]), torch.zeros_like(v), v)
        zero = (self.missing == MISSING["Zero"]) & (numeric.abs() <= ZERO)
        absent = zero | ((self.missing == MISSING["NaN"]) & nan)
        # decisions as 0/1 doubles: ONNX Runtime has no Where over booleans
        go_numeric = torch.where(absent, self.default_left.double().expand_as(v), (numeric <= self.threshold).double())
        left = go_numeric
        if self.has_categorical:  # left out of the graph when no node splits a category
            whole = torch.where(v < 0, torch.ceil(v), torch.floor(v))  # C's cast to int (ONNX has no trunc)
            whole = torch.where(nan, torch.full_like(v, -1.0), whole)
            member = ((whole.unsqueeze(-1) == self.sets).any(-1) & (whole >= 0)).double()
            left = torch.where(self.categorical, member, go_numeric)
        left = left.float()  # 0/1: the path sums stay exact
        reached = (torch.einsum("btn,tnl->btl", left, self.path) == self.turns).double()  # [B, T, L]
        per_tree = (reached * self.value).sum(-1)  # [B, T]
        one_hot = nn.functional.one_hot(self.tree_output, self.outputs).double()  # [T, outputs]
        return (per_tree @ one_hot).float()
