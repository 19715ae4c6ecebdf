"""ONNX export of a fitted model (fusion + head, and the trainable encoders with tensor inputs, over the
features of frozen encoders), its parity check against PyTorch, and the ONNX Runtime inference path."""

from .graph import GraphInput, export_head, graph_inputs
from .runtime import OnnxHead, head_runner, head_runtime

__all__ = ["GraphInput", "OnnxHead", "export_head", "graph_inputs", "head_runner", "head_runtime"]
