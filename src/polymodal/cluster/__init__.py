"""Clustering of a run's embeddings (`polymodal cluster`, `polymodal.cluster`)."""

from .run import ClusterResult, cluster

__all__ = ["ClusterResult", "cluster"]
