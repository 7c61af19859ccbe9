"""The graph-context neck of ZS3Net + GC: graph convolutions in torch."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from ...utils.graph import ADJACENCY_FORMS, check_choice, graph_adjacency


class GraphConvolution(nn.Module):
    """One graph convolution: ``out = A_hat @ (x @ W) + b``.

    The layer of Kipf & Welling (ICLR 2017) as pygcn writes it (the bias is
    added after the propagation, not propagated), with ``A_hat`` applied as
    a sparse product: ``out[row] += value * (x @ W)[col]`` over the
    ``(row, col, value)`` triples of :func:`graph_adjacency`, so time and
    memory grow with the edges, never with ``N x N``.

    Args:
        in_channels (int): Input width.
        out_channels (int): Output width.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels).fill_(0.01))

    def forward(self, x: Tensor, row: Tensor, col: Tensor,
                value: Tensor) -> Tensor:
        """Propagate ``x`` ``[N, in]`` over ``A_hat``; returns ``[N, out]``."""
        support = self.linear(x)
        out = support.new_zeros(support.shape)
        out.index_add_(0, row, support[col] * value[:, None].to(support.dtype))
        return out + self.bias


@MODELS.register_module()
class GraphContextNeck(BaseModule):
    """Two graph convolutions from node inputs to node features.

    The generator of ZS3Net + GC (Bucher et al., "Zero-Shot Semantic
    Segmentation", NeurIPS 2019, section 3.3; the official
    ``GMMNnetwork_GCN``): ``GC(in -> hidden) -> LeakyReLU(0.2) ->
    Dropout(0.5) -> GC(hidden -> out)`` over the region graph of a label map
    (:func:`~mmseg_zs3.utils.graph.build_label_graph`), each node's input
    being ``[class embedding ; noise]`` (300 + 300 = 600 -> 256 -> 256 by
    default). Xavier-uniform weights and biases 0.01, as the official code.

    **Why a neck.** In this design the four registered components are the
    segmentation network, the class-embedding provider, the generative head
    and this neck. Like an mmseg neck it is a feature-to-feature transform
    that sits between two parts and has no loss of its own: it turns the
    per-node inputs that the generative head assembles (embeddings and
    noise) into context-aware features for the head's MMD and for the
    classifier. It is **not** the segmentor's ``neck=`` (which
    ``EncoderDecoder.extract_feat`` applies to backbone features of every
    image, at test time too): it is applied only to node inputs of the
    training graphs, inside :class:`GMMNGCGenerativeHead`. **The graph is not
    used at test time**: the tested model is the stage-1 network with the
    retrained classifier, exactly as ZS3Net without GC.

    ``form`` names the propagation (:func:`graph_adjacency`):

    - ``'official'`` (default, the official code): ``A`` without self-loops
      and without normalisation, so in the first layer a node's own
      embedding and noise do not reach its output (they come back through
      its neighbours in the second layer), and outputs grow with the degree.
    - ``'usual'``: ``D^-1/2 (A + I) D^-1/2``, the usual GCN.

    Args:
        in_channels (int): Node input width (embedding + noise). Defaults to
            600.
        hidden_channels (int): Width after the first layer. Defaults to 256.
        out_channels (int): Node feature width: the channels that enter the
            classifier. Defaults to 256.
        form (str): ``'official'`` or ``'usual'``. Defaults to 'official'.
        negative_slope (float): LeakyReLU slope. Defaults to 0.2.
        dropout (float): Dropout after the first layer. Defaults to 0.5.
        init_cfg (dict, optional): Initialisation config. Defaults to
            Xavier-uniform weights (the biases start at 0.01).
    """

    def __init__(self,
                 in_channels: int = 600,
                 hidden_channels: int = 256,
                 out_channels: int = 256,
                 form: str = 'official',
                 negative_slope: float = 0.2,
                 dropout: float = 0.5,
                 init_cfg: Optional[dict] = dict(
                     type='Xavier', distribution='uniform', layer='Linear')):
        super().__init__(init_cfg=init_cfg)
        check_choice('form', form, ADJACENCY_FORMS)
        for name, value in [('in_channels', in_channels),
                            ('hidden_channels', hidden_channels),
                            ('out_channels', out_channels)]:
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f'{name}={value!r} must be a positive '
                                 'integer')
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout={dropout} must be in [0, 1)')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.form = form
        self.gc1 = GraphConvolution(in_channels, hidden_channels)
        self.act = nn.LeakyReLU(negative_slope)
        self.dropout = nn.Dropout(dropout)
        self.gc2 = GraphConvolution(hidden_channels, out_channels)

    def init_weights(self):
        """Xavier weights (``init_cfg``); biases back to 0.01."""
        super().init_weights()
        for gc in (self.gc1, self.gc2):
            nn.init.constant_(gc.bias, 0.01)

    def forward(self,
                x: Tensor,
                edges: Tensor,
                num_nodes: Optional[int] = None) -> Tensor:
        """Node features of one graph (or of a block-diagonal batch of them,
        :func:`~mmseg_zs3.utils.graph.batch_graphs`).

        Args:
            x (Tensor): ``[N, in_channels]`` node inputs.
            edges (Tensor): ``[2, E]`` undirected edges, each once.
            num_nodes (int, optional): ``N``; checked against ``x``.

        Returns:
            Tensor: ``[N, out_channels]``.

        Raises:
            ValueError: ``x`` is not ``[N, in_channels]``, ``num_nodes``
                differs from ``N``, ``edges`` is not ``[2, E]`` integers, or
                an edge names no node.
        """
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f'node inputs of shape {tuple(x.shape)}; '
                             f'expected [N, {self.in_channels}] '
                             '(in_channels: embedding + noise)')
        n = x.shape[0]
        if num_nodes is not None and num_nodes != n:
            raise ValueError(f'num_nodes={num_nodes} but x has {n} rows')
        if edges.dim() != 2 or edges.shape[0] != 2 or \
                edges.dtype.is_floating_point or edges.dtype == torch.bool:
            raise ValueError(
                f'edges of shape {tuple(edges.shape)} and dtype '
                f'{edges.dtype}; expected [2, E] integer node ids')
        row, col, value = graph_adjacency(
            edges.to(x.device), n, self.form, dtype=x.dtype)
        h = self.dropout(self.act(self.gc1(x, row, col, value)))
        return self.gc2(h, row, col, value)
