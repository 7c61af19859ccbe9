"""The generative head of ZS3Net + GC: pixel GMMN plus a graph-context
generator over the region graphs of the training label maps."""
import logging
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from ...utils.graph import (IGNORE_REGIONS, NODE_FEATURES, LabelGraph,
                            batch_graphs, build_label_graph, check_choice,
                            node_features)
from .gmmn_head import GMMNGenerativeHead

CONTEXT_MMD = ('image', 'class')
UNSEEN_SUBSTITUTIONS = ('nearest_seen', 'random')
NODE_LOSS_WEIGHTINGS = ('relative', 'official')
LAYOUTS = ('strict', 'paper')


@MODELS.register_module()
class GMMNGCGenerativeHead(GMMNGenerativeHead):
    """ZS3Net + GC's generators: the pixel GMMN and a graph-context GCN.

    ZS3Net with graph context (Bucher et al., "Zero-Shot Semantic
    Segmentation", NeurIPS 2019, section 3.3). As
    :class:`GMMNGenerativeHead` for pixels (:meth:`loss` and
    :meth:`generate` are inherited: the segmentor trains the pixel GMMN and
    generates unseen pixel features as for ZS3Net), plus
    :meth:`loss_context`, which the segmentor calls with the frozen feature
    maps and label maps of an image batch:

    .. code:: text

     loss_context(feats [B, C, h, w], labels [B, h, w]):
       per image: (strict: unseen labels -> ignore) -> build_label_graph()
                  -> node_features() (real, per node)
       batch_graphs() -> context_generator([emb ; noise], edges)  (a
                  GraphContextNeck over the block-diagonal batch graph)
       -> context MMD (generated vs real node features)    loss_mmd_gc
       -> node classification: classify(node features)     loss_node_cls
          (strict: real seen nodes + generated unseen nodes substituted
           into the graphs, see below; paper: see below)

    **The graph is not used at test time**: only the classifier that the
    node loss (and the pixel loss) trained is.

    Real node features are the component's mean feature by default
    (``node_feature='mean'``); ``'first_pixel'`` is the official code's (the
    feature at the component's first pixel in raster order: its averaging
    option reads that pixel every time, so it does nothing).

    ``context_mmd`` names the sets that the MMD compares: ``'image'``
    (default, the official code): all nodes of one image, classes mixed, one
    MMD per image, averaged over the images; ``'class'``: the nodes of each
    class over the batch, one MMD per class, averaged over classes.
    Quadratic in the nodes of a set, so a set larger than ``max_nodes`` is
    subsampled (the same nodes on both sides) and a warning says so; the
    graphs themselves and the GCN are linear in nodes and edges.

    The node loss is the classifier's cross-entropy over nodes (unseen
    classes weighted as in the pixel loss, ignore-labelled nodes ignored),
    times ``node_loss_weight`` (0.1, the paper). ``node_loss_weighting``:
    ``'relative'`` (default) divides it by the batch size exactly when the
    segmentor divides its pixel loss by it (``paper_batch_average``), so the
    ratio stays 0.1; ``'official'`` never divides it, as the official code
    (whose node CE has a batch dimension of 1), so with
    ``paper_batch_average=True`` and batch 8 its effective weight is 0.8.

    **How unseen nodes enter the graphs** (``layout``, the segmentor's
    ``unseen_layout``):

    - ``'strict'``: no unseen node is taken from ground truth. Pixels
      labelled with an unseen class are turned into ignore pixels before the
      graph is built (so which unseen class they had changes nothing), and
      the context MMD learns from seen nodes only. Unseen nodes are then
      **substituted**: in each graph one seen node is relabelled with an
      unseen class and the GCN generates the features of the substituted
      graph, whose new node is classified as that unseen class. With
      ``unseen_substitution='nearest_seen'`` (default) the node relabelled
      with unseen class ``u`` is one of the seen class nearest to ``u`` in
      the embedding space (cosine), so ``u`` appears in a context that is
      plausible for it (word embeddings of classes that share contexts are
      close, e.g. cow / sheep in fields); when the graph has no such node, a
      random non-background node takes a random unseen class. ``'random'``
      always does the latter. The background class (``background_index``)
      is never substituted.
    - ``'paper'``: the official code. Graphs keep their unseen nodes from
      ground truth; images with an unseen node do not train the GCN; the
      classifier sees the real node features of images without unseen
      nodes and the generated (detached) node features of all nodes of the
      others. This reads unseen ground truth (the leak of the paper layout).

    Graphs with fewer than 2 nodes or without an edge are skipped (the
    official code skips single-component maps); a batch without a graph
    gives zero losses connected to the generator.

    Args:
        generator (dict): Config of the pixel generator (``GMMNGenerator``).
        context_generator (dict): Config of the graph generator. Defaults to
            ``dict(type='GraphContextNeck')`` (600 -> 256 -> 256, official
            form).
        loss (dict): Pixel MMD. Defaults to ``dict(type='MMDLoss')``.
        context_loss (dict): Context MMD. Defaults to
            ``dict(type='MMDLoss', loss_name='loss_mmd_gc')``.
        num_samples (int): Pixel MMD samples per class. Defaults to 128.
        node_feature (str): ``'mean'`` or ``'first_pixel'``. Defaults to
            'mean'.
        context_mmd (str): ``'image'`` or ``'class'``. Defaults to 'image'.
        ignore_regions (str): ``'drop'`` (default): ignore pixels are no
            node; ``'node'`` (official): each ignore region is a node with
            the background's embedding (with ``'strict'`` its real feature
            is that of pixels whose label was unseen or ignored).
        background_index (int): Class whose embedding ignore nodes get, and
            which is never substituted. Defaults to 0.
        node_loss_weight (float): Weight of the node loss. Defaults to 0.1.
        node_loss_weighting (str): ``'relative'`` or ``'official'``.
            Defaults to 'relative'.
        unseen_substitution (str): ``'nearest_seen'`` or ``'random'``
            (strict layout). Defaults to 'nearest_seen'.
        max_nodes (int): Largest MMD set; larger sets are subsampled.
            Defaults to 1024.
        graph_backend (str): ``build_label_graph``'s backend. Defaults to
            'auto' (scipy on CPU, torch on an accelerator).
        init_cfg (dict, optional): Initialisation config. Defaults to None.

    Raises:
        ValueError: An option outside its choices, or a context generator
            whose input width is not the pixel generator's embedding plus
            noise width, or whose output width differs from its feature
            width.
    """

    def __init__(self,
                 generator: dict,
                 context_generator: dict = dict(type='GraphContextNeck'),
                 loss: dict = dict(type='MMDLoss'),
                 context_loss: dict = dict(
                     type='MMDLoss', loss_name='loss_mmd_gc'),
                 num_samples: int = 128,
                 node_feature: str = 'mean',
                 context_mmd: str = 'image',
                 ignore_regions: str = 'drop',
                 background_index: int = 0,
                 node_loss_weight: float = 0.1,
                 node_loss_weighting: str = 'relative',
                 unseen_substitution: str = 'nearest_seen',
                 max_nodes: int = 1024,
                 graph_backend: str = 'auto',
                 init_cfg: Optional[dict] = None):
        check_choice('node_feature', node_feature, NODE_FEATURES)
        check_choice('context_mmd', context_mmd, CONTEXT_MMD)
        check_choice('ignore_regions', ignore_regions, IGNORE_REGIONS)
        check_choice('node_loss_weighting', node_loss_weighting,
                     NODE_LOSS_WEIGHTINGS)
        check_choice('unseen_substitution', unseen_substitution,
                     UNSEEN_SUBSTITUTIONS)
        if not isinstance(max_nodes, int) or max_nodes < 2:
            raise ValueError(f'max_nodes={max_nodes!r} must be an integer '
                             '>= 2')
        if not isinstance(background_index, int) or background_index < 0:
            raise ValueError(f'background_index={background_index!r} must '
                             'be a class index >= 0')
        if node_loss_weight < 0:
            raise ValueError(
                f'node_loss_weight={node_loss_weight} must be >= 0')
        super().__init__(
            generator=generator,
            loss=loss,
            num_samples=num_samples,
            init_cfg=init_cfg)
        self.context_generator = MODELS.build(context_generator)
        self.context_loss_fn = MODELS.build(context_loss)
        expected = self.generator.embed_dim + self.generator.noise_dim
        if self.context_generator.in_channels != expected:
            raise ValueError(
                'context_generator.in_channels='
                f'{self.context_generator.in_channels}, but its node inputs '
                f'are [embedding ; noise] = {self.generator.embed_dim} + '
                f'{self.generator.noise_dim} = {expected}')
        if self.context_generator.out_channels != self.feat_dim:
            raise ValueError(
                'context_generator.out_channels='
                f'{self.context_generator.out_channels}, but the features '
                f'are {self.feat_dim}-d (generator.feat_dim)')
        self.node_feature = node_feature
        self.context_mmd = context_mmd
        self.ignore_regions = ignore_regions
        self.background_index = int(background_index)
        self.node_loss_weight = float(node_loss_weight)
        self.node_loss_weighting = node_loss_weighting
        self.unseen_substitution = unseen_substitution
        self.max_nodes = max_nodes
        self.graph_backend = graph_backend
        # set by the first loss_context call: see loss()
        self._context_seen = False

    def loss(self,
             features: Tensor,
             labels: Tensor,
             embeddings: Tensor,
             class_ids: Sequence[int],
             generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """The pixel MMD, as :meth:`GMMNGenerativeHead.loss`.

        In training, :meth:`loss_context` must have run before: the
        segmentor calls it first for every image batch, while pixel batches
        (``ZS3FeatureCacheTrainLoop``'s cached features) carry no label map,
        so with them the graph generator would silently never train.

        Raises:
            RuntimeError: Called in training mode before any
                :meth:`loss_context` call.
        """
        if self.training and not self._context_seen:
            raise RuntimeError(
                'GMMNGCGenerativeHead trains on image batches (graphs are '
                'built from label maps), but it got a pixel batch without '
                "one: use train_cfg=dict(type='EpochBasedTrainLoop'), not "
                'ZS3FeatureCacheTrainLoop, whose cached pixels have no graph')
        return super().loss(features, labels, embeddings, class_ids, generator)

    # ----------------------------------------------------------------- graphs
    def build_graphs(self, feats: Tensor, labels: Tensor, unseen_ids: Tensor,
                     layout: str, ignore_index: int):
        """Region graphs and real node features of an image batch.

        Args:
            feats (Tensor): ``[B, C, h, w]`` frozen features.
            labels (Tensor): ``[B, h, w]`` labels at feature size.
            unseen_ids (Tensor): ``[U]`` unseen classes.
            layout (str): ``'strict'`` turns unseen labels into
                ``ignore_index`` first; ``'paper'`` keeps them.
            ignore_index (int): The ignore label.

        Returns:
            tuple[list[LabelGraph], list[Tensor]]: The graphs with at least
            two nodes and one edge, and their ``[N_g, C]`` real node
            features.
        """
        graphs, real = [], []
        for b in range(feats.shape[0]):
            lab = labels[b]
            if layout == 'strict':
                lab = lab.masked_fill(
                    torch.isin(lab, unseen_ids), ignore_index)
            g = build_label_graph(lab, ignore_index, self.ignore_regions,
                                  self.graph_backend)
            if g.num_nodes < 2 or g.num_edges == 0:
                continue
            graphs.append(g)
            real.append(node_features(feats[b], g, self.node_feature))
        return graphs, real

    def _node_inputs(self, node_labels: Tensor, embeddings: Tensor,
                     ignore_index: int) -> Tensor:
        """``[N, embed + noise]``: each node's class embedding (ignore nodes:
        the background's) and fresh noise."""
        cls = node_labels.masked_fill(node_labels == ignore_index,
                                      self.background_index)
        emb = embeddings[cls]
        noise = self.generator.sample_noise(len(cls), emb.device)
        return torch.cat([emb.to(noise.dtype), noise], dim=1)

    def generate_nodes(self, graphs: Sequence[LabelGraph],
                       node_labels: Sequence[Tensor], embeddings: Tensor,
                       ignore_index: int) -> List[Tensor]:
        """Generated features of the nodes of ``graphs``, one GCN call.

        Args:
            graphs (Sequence[LabelGraph]): The graphs (their edges are used).
            node_labels (Sequence[Tensor]): ``[N_g]`` class of each node of
                each graph (the graph's own labels, or substituted ones).
            embeddings (Tensor): ``[num_classes, embed_dim]``.
            ignore_index (int): Label of ignore nodes.

        Returns:
            list[Tensor]: ``[N_g, feat_dim]`` per graph.
        """
        edges, counts = batch_graphs(graphs)
        x = self._node_inputs(
            torch.cat(list(node_labels)), embeddings, ignore_index)
        out = self.context_generator(x, edges.to(x.device))
        return list(torch.split(out, counts))

    # ------------------------------------------------------------------ loss
    def _capped(self, n: int, device) -> Optional[Tensor]:
        if n <= self.max_nodes:
            return None
        print_log(
            f'GMMNGCGenerativeHead: a context-MMD set of {n} nodes is '
            f'subsampled to max_nodes={self.max_nodes} (the MMD is '
            'quadratic in its set)',
            logger='current',
            level=logging.WARNING)
        return torch.randperm(n, device=device)[:self.max_nodes]

    def _context_mmd(self, fake: List[Tensor], real: List[Tensor],
                     node_labels: List[Tensor]) -> Tensor:
        """Mean MMD over the sets (images or classes), in one padded call."""
        if self.context_mmd == 'image':
            sets = list(zip(fake, real))
        else:
            f, r = torch.cat(fake), torch.cat(real)
            y = torch.cat(node_labels)
            sets = [(f[y == c], r[y == c]) for c in y.unique()]
        for i, (f, r) in enumerate(sets):
            keep = self._capped(len(f), f.device)
            if keep is not None:
                sets[i] = (f[keep], r[keep])
        x = pad_sequence([f for f, _ in sets], batch_first=True)
        y = pad_sequence([r.to(x.dtype) for _, r in sets], batch_first=True)
        lengths = torch.tensor([len(f) for f, _ in sets], device=x.device)
        mask = torch.arange(x.shape[1], device=x.device) < lengths[:, None]
        return self.context_loss_fn(x, y, mask, mask)

    def _substitute(self, graph: LabelGraph, proxy: Tensor, unseen_ids: Tensor,
                    ignore_index: int) -> Optional[Tuple[int, int]]:
        """Pick a node of ``graph`` and an unseen class for it (strict
        layout); ``(node, class)`` or None if no node may be substituted."""
        labels = graph.labels
        allowed = (labels != ignore_index) & (labels != self.background_index)
        if self.unseen_substitution == 'nearest_seen':
            near = allowed & torch.isin(labels, proxy)
            if near.any():
                nodes = torch.nonzero(near).flatten()
                node = nodes[torch.randint(
                    len(nodes), (1, ), device=nodes.device)]
                choices = unseen_ids[proxy == labels[node]]
                cls = choices[torch.randint(
                    len(choices), (1, ), device=nodes.device)]
                return int(node), int(cls)
        if not allowed.any():
            return None
        nodes = torch.nonzero(allowed).flatten()
        node = nodes[torch.randint(len(nodes), (1, ), device=nodes.device)]
        cls = unseen_ids[torch.randint(
            len(unseen_ids), (1, ), device=nodes.device)]
        return int(node), int(cls)

    def nearest_seen(self, embeddings: Tensor, seen_ids: Tensor,
                     unseen_ids: Tensor) -> Tensor:
        """``[U]``: the seen class nearest (cosine) to each unseen class in
        the embedding space, the background left out."""
        cand = seen_ids[seen_ids != self.background_index]
        if len(cand) == 0:
            cand = seen_ids
        e = F.normalize(embeddings.float(), dim=1)
        sim = e[unseen_ids] @ e[cand].t()
        return cand[sim.argmax(dim=1)]

    def _zero(self) -> Tensor:
        return sum(p.sum() for p in self.context_generator.parameters()) * 0.

    def loss_context(self,
                     feats: Tensor,
                     labels: Tensor,
                     embeddings: Tensor,
                     seen_ids: Tensor,
                     unseen_ids: Tensor,
                     classify: Callable[[Tensor], Tensor],
                     layout: str = 'strict',
                     unseen_weight: float = 1.0,
                     batch_average: bool = False,
                     ignore_index: int = 255) -> Dict[str, Tensor]:
        """Context MMD and node classification loss of an image batch.

        Args:
            feats (Tensor): ``[B, C, h, w]`` frozen features (those that
                enter the classifier).
            labels (Tensor): ``[B, h, w]`` labels downsampled (nearest) to
                ``h x w``.
            embeddings (Tensor): ``[num_classes, embed_dim]``.
            seen_ids (Tensor): ``[S]`` seen classes.
            unseen_ids (Tensor): ``[U]`` unseen classes.
            classify (Callable): ``[N, C]`` features to ``[N, num_classes]``
                scores (the decode head's ``classify``).
            layout (str): ``'strict'`` or ``'paper'`` (see the class
                docstring). Defaults to 'strict'.
            unseen_weight (float): Cross-entropy weight of unseen classes.
                Defaults to 1.
            batch_average (bool): Whether the segmentor divides its pixel
                loss by the batch size (``paper_batch_average`` with the
                paper layout). Defaults to False.
            ignore_index (int): The ignore label. Defaults to 255.

        Returns:
            dict[str, Tensor]: ``loss_mmd_gc`` (the context loss's name),
            ``loss_node_cls`` and ``acc_node`` (percent, detached).

        Raises:
            ValueError: An unknown ``layout``; ``feats`` and ``labels`` of
                different batch or spatial sizes; a label that is neither a
                class of ``embeddings`` nor ``ignore_index``; or
                ``background_index`` outside the classes.
        """
        check_choice('layout', layout, LAYOUTS)
        self._context_seen = True
        if feats.dim() != 4 or labels.shape != (feats.shape[0],
                                                *feats.shape[2:]):
            raise ValueError(
                f'features {tuple(feats.shape)} and labels '
                f'{tuple(labels.shape)} do not match; expected [B, C, h, w] '
                'and [B, h, w]')
        self.check_embeddings(embeddings)
        num_classes = len(embeddings)
        if self.background_index >= num_classes:
            raise ValueError(
                f'background_index={self.background_index}, but there are '
                f'{num_classes} class embeddings')
        bad = labels[((labels < 0) | (labels >= num_classes))
                     & (labels != ignore_index)]
        if bad.numel():
            raise ValueError(
                f'labels {sorted(set(bad.tolist()))} are no class of the '
                f'{num_classes} class embeddings (ignore_index='
                f'{ignore_index})')
        device = feats.device
        seen_ids = torch.as_tensor(seen_ids, device=device)
        unseen_ids = torch.as_tensor(unseen_ids, device=device)
        name = self.context_loss_fn.loss_name
        graphs, real = self.build_graphs(feats, labels, unseen_ids, layout,
                                         ignore_index)
        if not graphs:
            zero = self._zero()
            return {name: zero, 'loss_node_cls': zero}
        node_labels = [g.labels for g in graphs]
        fake = self.generate_nodes(graphs, node_labels, embeddings,
                                   ignore_index)
        has_unseen = [
            bool(torch.isin(y, unseen_ids).any()) for y in node_labels
        ] if layout == 'paper' else [False] * len(graphs)
        train = [i for i, u in enumerate(has_unseen) if not u]
        if train:
            loss_mmd = self._context_mmd([fake[i] for i in train],
                                         [real[i] for i in train],
                                         [node_labels[i] for i in train])
        else:
            loss_mmd = self._zero()

        # node classification: real seen nodes, generated unseen ones
        cls_feats = [real[i] for i in train]
        cls_labels = [node_labels[i] for i in train]
        if layout == 'paper':
            for i, u in enumerate(has_unseen):
                if u:
                    cls_feats.append(fake[i].detach())
                    cls_labels.append(node_labels[i])
        else:
            proxy = self.nearest_seen(embeddings, seen_ids, unseen_ids)
            sub_graphs, sub_labels, sub_nodes = [], [], []
            for g in graphs:
                pick = self._substitute(g, proxy, unseen_ids, ignore_index)
                if pick is None:
                    continue
                node, cls = pick
                y = g.labels.clone()
                y[node] = cls
                sub_graphs.append(g)
                sub_labels.append(y)
                sub_nodes.append(node)
            if sub_graphs:
                with torch.no_grad():
                    gen = self.generate_nodes(sub_graphs, sub_labels,
                                              embeddings, ignore_index)
                cls_feats.append(
                    torch.stack([f[n] for f, n in zip(gen, sub_nodes)]))
                cls_labels.append(
                    torch.stack([y[n] for y, n in zip(sub_labels, sub_nodes)]))
        x = torch.cat(cls_feats)
        y = torch.cat(cls_labels)
        valid = y != ignore_index
        if not valid.any():
            return {name: loss_mmd, 'loss_node_cls': self._zero()}
        logits = classify(x[valid].to(feats.dtype))
        weight = logits.new_ones(logits.shape[1])
        weight[unseen_ids] = unseen_weight
        ce = F.cross_entropy(logits, y[valid], weight=weight)
        scale = self.node_loss_weight
        if batch_average and self.node_loss_weighting == 'relative':
            scale = scale / feats.shape[0]
        acc = (logits.argmax(1) == y[valid]).float().mean() * 100
        return {
            name: loss_mmd,
            'loss_node_cls': ce * scale,
            'acc_node': acc.detach()
        }
