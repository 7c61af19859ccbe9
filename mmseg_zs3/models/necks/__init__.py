"""Necks: the graph-context neck of ZS3Net + GC."""
from .graph_context_neck import GraphContextNeck, GraphConvolution  # noqa

__all__ = ['GraphContextNeck', 'GraphConvolution']
