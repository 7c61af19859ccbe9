"""Region graphs of label maps: ZS3Net + GC's context graph, vectorised.

The graph of ZS3Net + GC (Bucher et al., "Zero-Shot Semantic Segmentation",
NeurIPS 2019, section 3.3) is built on a label map downsampled (nearest) to
the feature map: its **nodes** are the 8-connected components of equal label,
its **edges** join 8-adjacent components of different labels (unweighted,
symmetric, no self-loops). The official code builds it with a Python DFS over
the pixels (each pixel pushed once per visiting neighbour); here

- connected components come from ``scipy.ndimage.label`` (one call per class
  present, 3x3 structure) for CPU tensors, or from a torch label propagation
  (each tree's root hooked to the smallest root among the 8 same-label
  neighbours, then pointer jumping; every operation on the whole map) for
  tensors on an accelerator, where scipy cannot run. Both give the same
  graph;
- edges come from four shifted comparisons of the node map (right, down, the
  two diagonals), made unique with ``torch.unique`` over ``lo * N + hi`` keys:
  memory and time O(h * w), never an ``N x N`` matrix, so 10,000 components
  cost what one does;
- node ids follow the raster order of each component's first pixel, as in
  the official code.

Functions: :func:`build_label_graph` (one map), :func:`node_features` (the
component mean, or the official first-pixel feature), :func:`batch_graphs`
(several graphs as one block-diagonal graph) and :func:`graph_adjacency`
(the official or the usual normalised propagation weights).
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

IGNORE_REGIONS = ('drop', 'node')
BACKENDS = ('auto', 'scipy', 'torch')
NODE_FEATURES = ('mean', 'first_pixel')
ADJACENCY_FORMS = ('official', 'usual')
# the four neighbours after a pixel in raster order; with their mirror
# images they are the 8-neighbourhood
_FORWARD_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))
_ALL_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0),
                (1, 1))


@dataclass
class LabelGraph:
    """The region graph of one label map.

    Attributes:
        labels (Tensor): ``[N]`` class of each node (``ignore_index`` for an
            ignore region kept as a node).
        node_map (Tensor): ``[h, w]`` node id of each pixel, -1 where a pixel
            belongs to no node (a dropped ignore region).
        edges (Tensor): ``[2, E]`` undirected edges, each once, with
            ``edges[0] < edges[1]``, sorted.
        first_pixel (Tensor): ``[N]`` flat (raster) index of each node's first
            pixel; increasing, since node ids follow that order.
        sizes (Tensor): ``[N]`` pixel count of each node.
    """
    labels: Tensor
    node_map: Tensor
    edges: Tensor
    first_pixel: Tensor
    sizes: Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.labels.numel())

    @property
    def num_edges(self) -> int:
        return int(self.edges.shape[1])


def check_choice(name: str, value, choices) -> None:
    """Raise ValueError naming ``name=value`` and the valid ``choices``."""
    if value not in choices:
        raise ValueError(f'{name}={value!r}; expected one of {choices}')


def _components_scipy(label: Tensor, valid: Tensor) -> Tensor:
    """Flat component root per pixel: the component's first pixel (raster
    order), -1 where not ``valid``; ``scipy.ndimage.label`` per class."""
    from scipy import ndimage
    lab = label.cpu().numpy()
    ok = valid.cpu().numpy()
    root = np.full(lab.size, -1, np.int64)
    structure = np.ones((3, 3), bool)
    for cls in np.unique(lab[ok]):
        comp, _ = ndimage.label((lab == cls) & ok, structure=structure)
        comp = comp.reshape(-1)
        where = np.flatnonzero(comp)
        # np.unique's return_index is each component's first pixel
        # (ndimage numbers the n components 1..n)
        _, first = np.unique(comp[where], return_index=True)
        root[where] = where[first][comp[where] - 1]
    return torch.from_numpy(root).to(label.device)


def _shift(x: Tensor, dy: int, dx: int, fill) -> Tensor:
    """``out[i, j] = x[i + dy, j + dx]``, ``fill`` outside the map."""
    h, w = x.shape
    out = torch.full_like(x, fill)
    ys, yd = slice(max(dy, 0),
                   h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0),
                   w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[yd, xd] = x[ys, xs]
    return out


def _components_torch(label: Tensor, valid: Tensor) -> Tensor:
    """As :func:`_components_scipy`, by label propagation in torch (runs on
    the tensor's device)."""
    h, w = label.shape
    big = h * w
    idx = torch.arange(big, device=label.device).view(h, w)
    root = torch.where(valid, idx, torch.full_like(idx, big))
    # same-label neighbour masks do not change between iterations
    links = []
    for dy, dx in _ALL_OFFSETS:
        same = (_shift(label, dy, dx, -1) == label) & \
            _shift(valid, dy, dx, False) & valid
        if same.any():
            links.append((dy, dx, same))
    # roots live in a flat array with a sentinel ``big`` (non-nodes) at the
    # end, so that ``parent[parent]`` is defined everywhere
    parent = torch.cat([root.reshape(-1), root.new_full((1, ), big)])
    keep = valid.reshape(-1)
    while True:
        root = parent[:-1].view(h, w)
        low = root
        for dy, dx, same in links:
            nb = _shift(root, dy, dx, big)
            low = torch.where(same, torch.minimum(low, nb), low)
        # hooking: the root of each pixel's tree adopts the smallest root
        # next to the pixel (both are pixels of the same component, and
        # roots only decrease, so a root is never above its pixel)
        new = parent.clone()
        new.scatter_reduce_(0,
                            root.reshape(-1)[keep],
                            low.reshape(-1)[keep], 'amin')
        # pointer jumping to the top of every tree
        while True:
            top = new[new]
            if torch.equal(top, new):
                break
            new = top
        if torch.equal(new, parent):
            break
        parent = new
    root = parent[:-1].view(h, w)
    return torch.where(valid, root, torch.full_like(root, -1)).reshape(-1)


def build_label_graph(label_map: Tensor,
                      ignore_index: int = 255,
                      ignore_regions: str = 'drop',
                      backend: str = 'auto') -> LabelGraph:
    """The region graph of a label map (see the module docstring).

    Args:
        label_map (Tensor): ``[h, w]`` integer class map, already at the
            feature map's size (nearest downsampling).
        ignore_index (int): Label of ignored pixels. Defaults to 255.
        ignore_regions (str): ``'drop'`` (default): ignored pixels belong to
            no node and connect nothing; ``'node'``: each 8-connected ignore
            region is a node labelled ``ignore_index`` (the official code,
            which gives it the background's embedding).
        backend (str): ``'scipy'`` (CPU), ``'torch'`` (any device) or
            ``'auto'``: scipy for CPU tensors, torch otherwise. Defaults to
            'auto'.

    Returns:
        LabelGraph: Nodes, node map, edges, first pixels and sizes, on the
        label map's device. A map of one component has no edges; a map with
        no node (all ignored, dropped) has no node.

    Raises:
        ValueError: ``label_map`` is not a 2-D integer tensor, holds a
            negative label other than ``ignore_index``, or an option is not
            one of its choices.
    """
    check_choice('ignore_regions', ignore_regions, IGNORE_REGIONS)
    check_choice('backend', backend, BACKENDS)
    if not isinstance(label_map, Tensor) or label_map.dim() != 2 or \
            label_map.dtype.is_floating_point or label_map.dtype == \
            torch.bool:
        raise ValueError('label_map must be an [h, w] integer tensor, got '
                         f'{type(label_map).__name__} '
                         f'{tuple(getattr(label_map, "shape", ()))} '
                         f'{getattr(label_map, "dtype", "")}')
    label = label_map.long()
    h, w = label.shape
    bad = label[(label < 0) & (label != ignore_index)]
    if bad.numel():
        raise ValueError(
            f'label_map holds negative labels {sorted(set(bad.tolist()))} '
            f'(ignore_index={ignore_index}); expected class indices >= 0')
    if ignore_regions == 'drop':
        valid = label != ignore_index
    else:
        valid = torch.ones_like(label, dtype=torch.bool)
    if backend == 'auto':
        backend = 'scipy' if label.device.type == 'cpu' else 'torch'
    if backend == 'scipy':
        root = _components_scipy(label, valid)
    else:
        root = _components_torch(label, valid)
    # a root is its component's first pixel: numbering the roots in raster
    # order (a cumulative sum, no sort) numbers the nodes
    flat_label = label.reshape(-1)
    keep = root >= 0
    is_first = root == torch.arange(h * w, device=root.device)
    first = torch.nonzero(is_first).flatten()
    node_of_root = torch.cumsum(is_first, 0) - 1
    node = torch.where(keep, node_of_root[root.clamp_min(0)], root)
    node_map = node.view(h, w)
    n = len(first)
    sizes = torch.bincount(node[keep], minlength=n)
    pairs = []
    for dy, dx in _FORWARD_OFFSETS:
        # pixel (i, j) against (i + dy, j + dx), both inside the map
        a = node_map[:h - dy, max(-dx, 0):w - max(dx, 0)]
        b = node_map[dy:, max(dx, 0):w + min(dx, 0)]
        m = (a >= 0) & (b >= 0) & (a != b)
        if m.any():
            a, b = a[m], b[m]
            pairs.append(torch.minimum(a, b) * n + torch.maximum(a, b))
    if pairs:
        keys = torch.unique(torch.cat(pairs))
        edges = torch.stack([keys // n, keys % n])
    else:
        edges = torch.zeros((2, 0), dtype=torch.long, device=label.device)
    return LabelGraph(
        labels=flat_label[first],
        node_map=node_map,
        edges=edges,
        first_pixel=first,
        sizes=sizes)


def node_features(features: Tensor,
                  graph: LabelGraph,
                  mode: str = 'mean') -> Tensor:
    """The real feature of each node of ``graph``.

    Args:
        features (Tensor): ``[C, h, w]`` feature map of the graph's image.
        graph (LabelGraph): Its graph (``node_map`` of size ``h x w``).
        mode (str): ``'mean'`` (default): the mean feature over the
            component's pixels; ``'first_pixel'``: the feature at its first
            pixel in raster order (the official code, whose averaging option
            reads that same pixel every time).

    Returns:
        Tensor: ``[N, C]``.

    Raises:
        ValueError: ``features`` does not match the node map, or an unknown
            ``mode``.
    """
    check_choice('mode', mode, NODE_FEATURES)
    if features.dim() != 3 or features.shape[1:] != graph.node_map.shape:
        raise ValueError(
            f'features of shape {tuple(features.shape)} do not match the '
            f'graph\'s node map {tuple(graph.node_map.shape)}; expected '
            '[C, h, w]')
    flat = features.reshape(features.shape[0], -1).t()
    if mode == 'first_pixel':
        return flat[graph.first_pixel]
    node = graph.node_map.reshape(-1)
    keep = node >= 0
    sums = flat.new_zeros((graph.num_nodes, flat.shape[1]))
    sums.index_add_(0, node[keep], flat[keep])
    return sums / graph.sizes[:, None].to(sums.dtype)


def batch_graphs(graphs: Sequence[LabelGraph]) -> Tuple[Tensor, List[int]]:
    """Edges of several graphs as one block-diagonal graph.

    Args:
        graphs (Sequence[LabelGraph]): The graphs, nodes numbered in order.

    Returns:
        tuple[Tensor, list[int]]: ``[2, E]`` edges with each graph's node ids
        offset by the nodes before it, and the node count of each graph.
    """
    counts = [g.num_nodes for g in graphs]
    offsets = np.cumsum([0] + counts[:-1]).tolist()
    edges = [g.edges + o for g, o in zip(graphs, offsets)]
    if not edges:
        return torch.zeros((2, 0), dtype=torch.long), counts
    return torch.cat(edges, dim=1), counts


def graph_adjacency(
        edges: Tensor,
        num_nodes: int,
        form: str = 'official',
        dtype: torch.dtype = torch.float32) -> Tuple[Tensor, Tensor, Tensor]:
    """Sparse propagation weights ``A_hat`` of a graph, as (row, col, value).

    ``out = A_hat @ x`` is ``out[row] += value * x[col]``.

    - ``'official'``: ``A_hat = A``, the 0/1 adjacency without self-loops and
      without normalisation (pygcn as the official code calls it): a node's
      own input does not reach its output in one layer.
    - ``'usual'``: ``A_hat = D^-1/2 (A + I) D^-1/2`` with ``D`` the degrees
      of ``A + I`` (Kipf & Welling, ICLR 2017).

    Args:
        edges (Tensor): ``[2, E]`` undirected edges, each once.
        num_nodes (int): Node count ``N``.
        form (str): ``'official'`` or ``'usual'``. Defaults to 'official'.
        dtype (torch.dtype): Dtype of the values. Defaults to float32.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``[M]`` rows, ``[M]`` columns and
        ``[M]`` values (``M = 2E``, plus ``N`` self-loops for 'usual').

    Raises:
        ValueError: An unknown ``form``, or an edge outside ``[0, N)``.
    """
    check_choice('form', form, ADJACENCY_FORMS)
    if edges.numel() and (edges.min() < 0 or edges.max() >= num_nodes):
        raise ValueError(f'edges reach node ids {int(edges.min())}..'
                         f'{int(edges.max())}, outside a graph of '
                         f'{num_nodes} nodes')
    row = torch.cat([edges[0], edges[1]])
    col = torch.cat([edges[1], edges[0]])
    if form == 'official':
        return row, col, torch.ones(len(row), dtype=dtype, device=row.device)
    loops = torch.arange(num_nodes, device=edges.device)
    row, col = torch.cat([row, loops]), torch.cat([col, loops])
    deg = torch.bincount(row, minlength=num_nodes).to(dtype)
    inv = deg.rsqrt()
    return row, col, inv[row] * inv[col]
