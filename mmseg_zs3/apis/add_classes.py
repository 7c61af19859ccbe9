"""Add classes to a trained ZS3Net model by name, in seconds.

A ZS3Net stage-2 model already holds what a new class needs: its generator
turns any class embedding (plus noise) into the pixel features that enter the
classifier (Bucher et al., "Zero-Shot Semantic Segmentation", NeurIPS 2019,
section 3). Adding a class is therefore a classifier retrain, never a network
retrain:

1. the new names get word vectors by the embedding builder's rules
   (:func:`~mmseg_zs3.embeddings.build_class_embeddings`: aliases, multi-word
   names averaged over their words, nearest spellings for unknown words), in
   the source and normalisation of the model's own class embeddings;
2. the generator draws features of the new classes and of the classes that
   were unseen in training; the seen classes are represented either by
   features the generator draws for them (``seen_source='generated'``, the
   checkpoint alone suffices) or by the real seen-pixel features that the
   stage-2 run stored (``seen_source='real'``: the feature cache
   ``zs3_feature_cache.pth`` of ``ZS3FeatureCacheTrainLoop``, checked against
   the checkpoint's frozen weights);
3. a classifier over old + new classes is trained on them with stage 2's
   class balance (seen classes at their pixel frequencies, every unseen class
   weighted ``unseen_weight`` times the mean seen frequency). By default only
   the new classifier rows train (``retrain='new'``): the old rows are kept,
   so among themselves the old classes decide exactly as before, and a pixel
   changes its label only where a new class wins.

The result is an ordinary model of the same config with more classes: the new
classes join the split's unseen classes (they are zero-shot), the class
embeddings, ``dataset_meta`` (classes, palette) and the config travel with
it. :func:`add_classes` works on a model in memory;
:func:`add_classes_to_checkpoint` (``tools/add_classes.py``) writes a
checkpoint and the config next to it,
``<out>.py``, both atomically, for ``tools/test.py``, ``init_model``,
``inference_model`` and ``MMSegInferencer``; the checkpoint also holds that
config in ``meta['cfg']`` (mmengine's place for it), so
``MMSegInferencer(model=None, weights=out)`` works too.
"""
import copy
import glob
import logging
import os.path as osp
import re
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from mmseg_zs3.compat import load_from_local
from mmseg_zs3.fileio import atomic_open
from mmseg_zs3.utils.checkpoint_checks import (checkpoint_state_dict,
                                               describe_checkpoint)
from mmseg_zs3.utils.extra_state import encode_extra_state

SEEN_SOURCES = ('auto', 'real', 'generated')
RETRAIN_ROWS = ('new', 'all')
FEATURE_CACHE_GLOB = 'zs3_feature_cache*.pth'
STAGE2_CONFIG_HINT = (
    'python tools/train.py configs/zs3/'
    'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py '
    '--cfg-options load_from=YOUR_STAGE1.pth (or the stage-2 config of your '
    'dataset)')
_NAME_SPLIT = re.compile(r'[\s_\-/]+')


class AddClassesError(ValueError):
    """A bad input to :func:`add_classes`: the message names it."""


# ---------------------------------------------------------------------------
# names, colours, vectors
def normalize_class_name(name: str) -> str:
    """A class name as compared for duplicates: lower case, words separated
    by one space (``'Red_Circle'`` and ``'red circle'`` are one class)."""
    return ' '.join(w for w in _NAME_SPLIT.split(name.strip().lower()) if w)


def check_new_class_names(names: Sequence[str],
                          existing: Sequence[str]) -> List[str]:
    """Check the names to add against each other and the model's classes.

    Args:
        names (Sequence[str]): The new class names.
        existing (Sequence[str]): The model's classes.

    Returns:
        list[str]: The names, stripped of surrounding white space.

    Raises:
        AddClassesError: No name, a name that is not a non-empty string, a
            name given twice, or a name of an existing class (compared by
            :func:`normalize_class_name`); the message names them.
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise AddClassesError('no class name given: name the classes to add')
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise AddClassesError(f'class names must be non-empty strings, got '
                              f'{bad!r}')
    names = [n.strip() for n in names]
    seen: Dict[str, str] = {}
    for name in names:
        key = normalize_class_name(name)
        if key in seen:
            raise AddClassesError(f'{name!r} is given twice (as '
                                  f'{seen[key]!r} and {name!r})')
        seen[key] = name
    old = {normalize_class_name(c): c for c in existing}
    dup = [(n, old[normalize_class_name(n)]) for n in names
           if normalize_class_name(n) in old]
    if dup:
        text = ', '.join(f'{n!r} (the model has {o!r})' for n, o in dup)
        raise AddClassesError(
            f'already a class of the model: {text}; the model\'s classes are '
            f'{list(existing)}')
    return names


def new_class_palette(palette: Sequence[Sequence[int]],
                      num: int) -> List[List[int]]:
    """Colours for ``num`` new classes, each as far as possible (RGB
    distance) from the palette and from each other, saturated (no grey,
    white or black); deterministic.

    Args:
        palette (Sequence[Sequence[int]]): The existing ``[R, G, B]`` colours.
        num (int): How many colours to add.

    Returns:
        list[list[int]]: ``num`` colours.
    """
    levels = np.linspace(0, 255, 7).round()
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing='ij'),
                    -1).reshape(-1, 3)
    # saturated colours only: greys, near-white and near-black are hard to
    # tell from the image and the legend's background
    grid = grid[grid.max(1) - grid.min(1) >= 170]
    taken = [np.asarray(p, dtype=float) for p in palette]
    out = []
    for _ in range(num):
        if taken:
            dist = np.min(
                np.linalg.norm(grid[:, None] - np.stack(taken)[None], axis=2),
                axis=1)
        else:
            dist = np.linalg.norm(grid - 128, axis=1)
        pick = grid[int(np.argmax(dist))]
        taken.append(pick)
        out.append([int(v) for v in pick])
    return out


def _word_vector_sources(word_vectors) -> list:
    from mmseg_zs3.embeddings import load_packaged_glove, load_word_vectors
    if word_vectors is None:
        return [load_packaged_glove()]
    items = word_vectors if isinstance(word_vectors,
                                       (list, tuple)) else [word_vectors]
    return [load_word_vectors(w) if isinstance(w, str) else w for w in items]


def embed_new_classes(names: Sequence[str],
                      class_embedding,
                      word_vectors=None,
                      aliases=None,
                      normalize: Optional[str] = None,
                      allow_missing: bool = False) -> np.ndarray:
    """Word vectors of new classes, on the scale of a model's embeddings.

    Args:
        names (Sequence[str]): The new class names.
        class_embedding (ClassEmbedding): The model's class embeddings; their
            ``meta`` (``normalization``, ``max_norm_divisor``, ``sources``)
            says how the new rows must be made.
        word_vectors (None | str | KeyedVectors | list): None: the packaged
            GloVe 6B-50d; a word-vector file (any format of
            :func:`~mmseg_zs3.embeddings.load_word_vectors`); or loaded
            KeyedVectors (several are concatenated, as the builder does).
        aliases (None | str | dict): Alias table for the builder (e.g.
            ``{'tv': ['television']}``). Defaults to None.
        normalize (str, optional): ``'l2'``, ``'none'`` or ``'max_norm'``.
            Defaults to the model's (its embeddings' ``meta``).
        allow_missing (bool): A name with unknown words gets the mean of its
            known words (the builder's option; a name with none stays an
            error). Defaults to False.

    Returns:
        np.ndarray: float32 ``[len(names), dim]``.

    Raises:
        KeyError: A name has out-of-vocabulary words (the builder's message:
            every such name, its words and the nearest spellings).
        AddClassesError: The normalisation is unknown, or the vectors have
            another dimension than the model's embeddings.
    """
    from mmseg_zs3.embeddings import build_class_embeddings, normalize_vectors
    from mmseg_zs3.embeddings.builder import source_name
    meta = dict(class_embedding.meta or {})
    norm = normalize or meta.get('normalization')
    if norm not in ('l2', 'none', 'max_norm'):
        raise AddClassesError(
            f'the model\'s class embeddings do not record their '
            f'normalisation (meta {sorted(meta)}); pass normalize='
            "'l2' | 'none' | 'max_norm' (--normalize), as they were built")
    divisor = meta.get('max_norm_divisor')
    if norm == 'max_norm' and not normalize and not divisor:
        raise AddClassesError(
            "the model's class embeddings are 'max_norm' normalised but do "
            'not record the divisor (max_norm_divisor); pass normalize=')
    sources = _word_vector_sources(word_vectors)
    emb = build_class_embeddings(
        list(names),
        sources,
        aliases=aliases,
        normalize='none' if norm == 'max_norm' else norm,
        allow_missing=allow_missing)
    vectors = emb.vectors.astype(np.float64)
    if norm == 'max_norm':
        if divisor:
            vectors = vectors / float(divisor)
        else:
            vectors = normalize_vectors(vectors, 'max_norm')[0]
    if vectors.shape[1] != class_embedding.dim:
        raise AddClassesError(
            f'the word vectors {[source_name(s) for s in sources]} are '
            f'{vectors.shape[1]}-d but the model\'s class embeddings are '
            f'{class_embedding.dim}-d (from {meta.get("sources")}); use the '
            'word vectors the model was trained with')
    old_sources = meta.get('sources')
    new_sources = [source_name(s) for s in sources]
    if old_sources and list(old_sources) != new_sources:
        print_log(
            f'add_classes: the model\'s class embeddings come from '
            f'{old_sources}, the new classes\' from {new_sources}: if these '
            'are not the same vectors, the generator sees the new classes '
            'in another space and their accuracy suffers.',
            logger='current',
            level=logging.WARNING)
    return vectors.astype(np.float32)


# ---------------------------------------------------------------------------
# checkpoints and configs
def check_stage2_state(state_dict: dict, where: str) -> None:
    """Raise unless ``state_dict`` is a ZS3Net stage-2 model's.

    Args:
        state_dict (dict): The checkpoint's state dict.
        where (str): How to name it (the file).

    Raises:
        AddClassesError: The generator, the class embeddings or the
            classifier is missing; the message says what the file is, what
            it lacks, and how to train a stage 2 from it.
    """
    missing = []
    if not any(k.startswith('generative_head.generator.') for k in state_dict):
        missing.append('a feature generator (generative_head.*)')
    if 'class_embedding.embeddings' not in state_dict:
        missing.append('class embeddings (class_embedding.embeddings)')
    if 'decode_head.classifier.conv.weight' not in state_dict:
        missing.append('a ZeroShotDecodeHead classifier '
                       '(decode_head.classifier.conv.*)')
    if missing:
        raise AddClassesError(
            f'{where} is {describe_checkpoint(state_dict)}: it lacks '
            f'{"; ".join(missing)}. Adding classes needs a ZS3Net '
            'stage-2 checkpoint, whose generator makes features of new '
            'classes from their word vectors. Train stage 2 from this '
            f'network: {STAGE2_CONFIG_HINT}')


def _config_of(checkpoint: dict, config, where: str) -> Config:
    if config is not None:
        if isinstance(config, (Config, ConfigDict, dict)):
            return Config(copy.deepcopy(dict(config)))
        if not osp.isfile(config):
            raise AddClassesError(f'config file {config!r} not found')
        return Config.fromfile(config)
    text = (checkpoint.get('meta') or {}).get('cfg')
    if not isinstance(text, str) or not text.strip():
        raise AddClassesError(
            f'{where} holds no config (meta["cfg"], which mmengine\'s Runner '
            'writes); pass the config it was trained with (config=, '
            '--config)')
    return Config.fromstring(text, file_format='.py')


def _walk(node, fn) -> None:
    """Call ``fn(dict)`` on every dict nested in ``node``."""
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def _dataset_classes(node: dict) -> Optional[Tuple[str, ...]]:
    """The METAINFO classes of a dataset config's type, if it has one."""
    from mmseg.registry import DATASETS
    cls = DATASETS.get(node['type']) if isinstance(node.get('type'),
                                                   str) else None
    classes = getattr(cls, 'METAINFO', {}).get('classes') if cls else None
    return tuple(classes) if classes else None


def config_for_classes(cfg: Config,
                       old_classes: Sequence[str],
                       classes: Sequence[str],
                       unseen: Sequence[str],
                       palette: Sequence[Sequence[int]],
                       dim: int,
                       embedding_file: Optional[str] = None) -> Config:
    """``cfg`` rewritten for another class list (by name).

    - ``ClassEmbedding``: ``classes`` and ``dim`` set, ``embedding_file``
      as given (None: the checkpoint holds the embeddings);
    - every ``split`` (head, evaluator, ``SeenOnlyDataset``) becomes
      ``dict(unseen=unseen)``; the head's ``classes`` the new list;
    - every ``num_classes`` equal to the old count (decode head,
      ``CheckSegMap``) becomes the new count, and every ``class_weight`` of
      the old length is remapped by name (1.0 for a class it lacks);
    - a dataset whose type's ``METAINFO`` holds every class gets
      ``metainfo=dict(classes=..., palette=...)``: mmseg maps its labels to
      the model's order (``label_map``; a class left out becomes 255,
      ignored), so ``tools/test.py`` evaluates every class; a dataset
      without them keeps its classes (``ClassListCheckHook`` then refuses to
      test on it, by name);
    - an auxiliary head is dropped (it trains stage 1 only; its classifier
      has the old class count);
    - ``train_dataloader`` is left as it is: the config is for testing and
      inference (a model with added classes is not trained again; its
      training data has the old classes).

    Args:
        cfg (Config): The model's config.
        old_classes (Sequence[str]): Its classes, in order.
        classes (Sequence[str]): The new class list, in order.
        unseen (Sequence[str]): The unseen classes of the new list.
        palette (Sequence[Sequence[int]]): One colour per class of
            ``classes``.
        dim (int): Class-embedding dimension.
        embedding_file (str, optional): For ``ClassEmbedding``. Defaults to
            None.

    Returns:
        Config: A new config.
    """
    cfg = copy.deepcopy(cfg)
    old_n = len(old_classes)
    classes = list(classes)
    split = dict(unseen=list(unseen))
    palette = [list(p) for p in palette]

    def update(node: dict) -> None:
        if node.get('type') == 'ClassEmbedding':
            node.update(
                embedding_file=embedding_file, classes=classes, dim=dim)
        if node.get('type') == 'ZeroShotDecodeHead':
            node['classes'] = classes
        if isinstance(node.get('split'), dict):
            node['split'] = copy.deepcopy(split)
        if node.get('num_classes') == old_n:
            node['num_classes'] = len(classes)
        weight = node.get('class_weight')
        if isinstance(weight, (list, tuple)) and len(weight) == old_n:
            by_name = dict(zip(old_classes, weight))
            node['class_weight'] = [by_name.get(c, 1.0) for c in classes]
        known = _dataset_classes(node)
        if known is not None and set(classes) <= set(known):
            node['metainfo'] = dict(classes=classes, palette=palette)

    update(cfg._cfg_dict)
    for key, node in cfg._cfg_dict.items():
        if key != 'train_dataloader':
            _walk(node, update)
    if isinstance(cfg.get('zs3_split'), dict):
        cfg.zs3_split = copy.deepcopy(split)
    if cfg.model.get('auxiliary_head'):
        cfg.model.auxiliary_head = None
    return cfg


def _build_model(cfg: Config, device: str):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = copy.deepcopy(cfg)
    cfg.model.pretrained = None
    cfg.model.train_cfg = None
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.init_cfg = None
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    model.cfg = cfg
    return model.to(device).eval()


# ---------------------------------------------------------------------------
# real seen features
def find_feature_caches(checkpoint: str) -> List[str]:
    """The stage-2 feature caches next to ``checkpoint`` (its work dir)."""
    return sorted(
        glob.glob(
            osp.join(osp.dirname(osp.abspath(checkpoint)),
                     FEATURE_CACHE_GLOB)))


def load_seen_features(paths: Sequence[str],
                       model) -> Tuple[List[torch.Tensor], torch.Tensor]:
    """Real seen-pixel features from stage-2 feature caches.

    Args:
        paths (Sequence[str]): ``zs3_feature_cache.pth`` files of the
            stage-2 run (one per rank under DDP).
        model (ZS3EncoderDecoder): The model they must belong to.

    Returns:
        tuple[list[Tensor], Tensor]: Per class (the model's order) the
        ``[n_c, C]`` features (empty for classes without any), and the
        ``[num_classes]`` pixel counts they were sampled from.

    Raises:
        AddClassesError: No file, a file that is no feature cache, or one
            computed with other frozen weights, features or classes than
            the model's (the message names the file and what differs).
    """
    from mmseg_zs3.engine.runner.zs3_feature_cache_train_loop import \
        frozen_weights_digest
    if not paths:
        raise AddClassesError(
            "seen_source='real' needs the stage-2 feature cache "
            f'({FEATURE_CACHE_GLOB}, written by ZS3FeatureCacheTrainLoop in '
            "the run's work dir); none found: pass its path (seen_features=, "
            "--seen-features) or use seen_source='generated'")
    head = model.decode_head
    digest = frozen_weights_digest(model)
    feats: List[List[torch.Tensor]] = [[] for _ in range(model.num_classes)]
    counts = torch.zeros(model.num_classes, dtype=torch.long)
    for path in paths:
        if not osp.isfile(path):
            raise AddClassesError(f'seen-feature cache {path!r} not found')
        blob = load_from_local(path, map_location='cpu')
        key = blob.get('key') if isinstance(blob, dict) else None
        cache = blob.get('cache') if isinstance(blob, dict) else None
        if not isinstance(key, dict) or not isinstance(cache, dict):
            raise AddClassesError(
                f'{path!r} is not a ZS3Net feature cache (no key/cache '
                'entries)')
        problems = []
        if key.get('weights') != digest:
            problems.append('its frozen network weights differ from the '
                            "checkpoint's")
        if list(key.get('features') or []) != [
                head.feature_norm, head.feature_scale, head.channels
        ]:
            problems.append(f'its features {key.get("features")} differ '
                            f'from the model\'s [{head.feature_norm!r}, '
                            f'{head.feature_scale}, {head.channels}]')
        if (key.get('classes') or [None])[0] != model.num_classes:
            problems.append(f'it holds {(key.get("classes") or [None])[0]} '
                            f'classes, the model {model.num_classes}')
        if problems:
            raise AddClassesError(
                f'the seen-feature cache {path!r} does not belong to this '
                f'checkpoint: {"; ".join(problems)}')
        for c, f in enumerate(cache['feats']):
            if len(f):
                feats[c].append(f.float())
        counts += torch.as_tensor(cache['counts'], dtype=torch.long)
    return [
        torch.cat(f) if f else torch.empty(0, head.channels) for f in feats
    ], counts


# ---------------------------------------------------------------------------
# the retrain
def _class_masses(seen: Sequence[int], unseen: Sequence[int],
                  new: Sequence[int], counts: Optional[torch.Tensor],
                  unseen_weight: float, new_class_weight: float,
                  num_classes: int) -> torch.Tensor:
    """Stage 2's class balance: seen classes at their pixel frequencies
    (uniform without counts), each unseen class at ``unseen_weight`` times
    the mean frequency of the seen classes, the most frequent one left out
    (``num_generated='auto'`` with ``unseen_weight``); each new class at
    ``new_class_weight`` times that mean."""
    mass = torch.zeros(num_classes, dtype=torch.float64)
    seen = torch.as_tensor(list(seen), dtype=torch.long)
    if counts is not None and counts[seen].sum() > 0:
        mass[seen] = counts[seen].double() / counts[seen].sum()
    else:
        mass[seen] = 1.0 / len(seen)
    freq = mass[seen].sort().values
    freq = freq[freq > 0]
    typical = freq[:-1].mean() if len(freq) > 1 else freq.mean()
    mass[list(unseen)] = float(unseen_weight) * float(typical)
    mass[list(new)] = float(new_class_weight) * float(typical)
    return mass


def retrain_classifier(model,
                       embeddings: torch.Tensor,
                       new_ids: Sequence[int],
                       seen_source: str = 'generated',
                       seen_features: Optional[Tuple[list,
                                                     torch.Tensor]] = None,
                       retrain: str = 'new',
                       new_class_weight: Optional[float] = None,
                       num_samples: int = 1000,
                       steps: int = 300,
                       lr: float = 0.01,
                       seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Classifier weights over old + new classes.

    Args:
        model (ZS3EncoderDecoder): The stage-2 model (old classes).
        embeddings (Tensor): ``[N + M, dim]`` embeddings, old rows first.
        new_ids (Sequence[int]): Indices of the new classes (``N..N+M-1``).
        seen_source (str): ``'generated'`` or ``'real'`` (needs
            ``seen_features``).
        seen_features (tuple, optional): :func:`load_seen_features`' result.
        retrain (str): ``'new'`` (only the new rows train; the old rows are
            kept) or ``'all'`` (every row, from the old weights).
        new_class_weight (float, optional): Weight of each new class in the
            loss, relative to a typical seen class: higher favours the new
            class over old ones that look alike. Defaults to None: the
            model's ``unseen_weight``, the weight stage 2 gave its unseen
            classes (a class added later is treated as if it had been
            unseen in stage 2).
        num_samples (int): Features per class. Defaults to 1000.
        steps (int): Full-batch Adam steps. Defaults to 300.
        lr (float): Adam's learning rate. Defaults to 0.01.
        seed (int): Seed of the noise, dropout and real-feature draws.

    Returns:
        tuple[Tensor, Tensor]: Weight ``[N + M, C]`` and bias ``[N + M]``.
    """
    head = model.decode_head
    device = embeddings.device
    old_n = model.num_classes
    total = old_n + len(new_ids)
    seen = list(head.seen_indices)
    unseen = list(head.unseen_indices) + list(new_ids)
    counts = None
    feats, labels = [], []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        rng = torch.Generator(device='cpu').manual_seed(seed)
        gen = model.generative_head
        was_training = gen.training
        # stage 2 draws the classifier's generated features in train mode
        # (the generator's dropout on); so do we
        gen.train()
        try:
            generated = unseen + (seen if seen_source == 'generated' else [])
            for c in generated:
                feats.append(
                    gen.generate([c], num_samples, embeddings.cpu())[0])
                labels.append(torch.full((num_samples, ), c))
        finally:
            gen.train(was_training)
        if seen_source == 'real':
            real, counts = seen_features
            for c in seen:
                if len(real[c]) == 0:
                    continue
                pick = torch.randint(
                    len(real[c]), (num_samples, ), generator=rng)
                feats.append(real[c][pick])
                labels.append(torch.full((num_samples, ), c))
    x = torch.cat(feats).to(device)
    y = torch.cat(labels).to(device)
    if new_class_weight is None:
        new_class_weight = model.unseen_weight
    mass = _class_masses(seen, head.unseen_indices, new_ids, counts,
                         model.unseen_weight, new_class_weight,
                         total).float().to(device)
    # each class contributes its mass, whatever its sample count
    per_class = torch.bincount(y, minlength=total).float().clamp_min(1)
    sample_weight = (mass / per_class)[y]
    sample_weight = sample_weight / sample_weight.sum()

    conv = head.classifier.conv
    w_old = conv.weight.detach().flatten(1).to(device)
    b_old = conv.bias.detach().to(device)
    w_new = torch.zeros(len(new_ids), w_old.shape[1], device=device)
    b_new = torch.zeros(len(new_ids), device=device)
    if retrain == 'all':
        w_old, b_old = w_old.clone(), b_old.clone()
        params = [w_old, b_old, w_new, b_new]
    else:
        params = [w_new, b_new]
    for p in params:
        p.requires_grad_(True)
    optim = torch.optim.Adam(params, lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            logits = F.linear(x, torch.cat([w_old, w_new]),
                              torch.cat([b_old, b_new]))
            loss = (F.cross_entropy(logits, y, reduction='none') *
                    sample_weight).sum()
            optim.zero_grad()
            loss.backward()
            optim.step()
    return (torch.cat([w_old, w_new]).detach(), torch.cat([b_old,
                                                           b_new]).detach())


# ---------------------------------------------------------------------------
# the API
def resolve_seen_source(seen_source: str,
                        seen_features: Optional[Sequence[str]],
                        model) -> Tuple[str, Optional[tuple]]:
    """Which seen features the retrain uses, loaded.

    Args:
        seen_source (str): ``'real'`` (the feature caches must load and
            belong to ``model``), ``'generated'``, or ``'auto'`` (``'real'``
            when ``seen_features`` are given and belong to ``model``; else
            ``'generated'``, with a warning when a given cache is refused).
        seen_features (Sequence[str], optional): Feature cache files.
        model (ZS3EncoderDecoder): The model.

    Returns:
        tuple[str, tuple | None]: ``'real'`` or ``'generated'``, and
        :func:`load_seen_features`' result for ``'real'``.

    Raises:
        AddClassesError: ``'real'`` with a missing or foreign cache.
    """
    if seen_source == 'real':
        return 'real', load_seen_features(list(seen_features or []), model)
    if seen_source == 'auto' and seen_features:
        try:
            return 'real', load_seen_features(list(seen_features), model)
        except ValueError as e:  # AddClassesError, a damaged file
            print_log(
                f'add_classes: not using the stored seen features ({e}); '
                'the generator draws the seen classes\' features instead',
                logger='current',
                level=logging.WARNING)
    return 'generated', None


def add_classes(model,
                classes: Sequence[str],
                word_vectors=None,
                seen_source: str = 'auto',
                seen_features: Optional[Sequence[str]] = None,
                retrain: str = 'new',
                new_class_weight: Optional[float] = None,
                aliases=None,
                normalize: Optional[str] = None,
                allow_missing: bool = False,
                num_samples: int = 1000,
                steps: int = 300,
                lr: float = 0.01,
                seed: int = 0,
                cfg: Optional[Config] = None):
    """A copy of a ZS3Net model that also segments ``classes``.

    Args:
        model (ZS3EncoderDecoder): A stage-2 model, e.g. from mmseg's
            ``init_model`` (whose ``model.cfg`` is used).
        classes (Sequence[str]): Names to add, e.g. ``['yellow cross']``.
        word_vectors: See :func:`embed_new_classes`. Defaults to the packaged
            GloVe 6B-50d.
        seen_source (str): How the seen classes are represented in the
            retrain: ``'generated'`` (by the generator; the model alone
            suffices), ``'real'`` (the stage-2 feature cache,
            ``seen_features``) or ``'auto'`` (real when ``seen_features``
            are given and belong to the model, else generated; see
            :func:`resolve_seen_source`). Real features keep the seen
            classes' accuracy better (``benchmarks/bench_add_classes.py``).
            Defaults to 'auto'.
        seen_features (Sequence[str], optional): The feature cache files for
            ``seen_source='real'``.
        retrain (str): ``'new'`` (only the new classifier rows) or ``'all'``.
            Defaults to 'new'.
        new_class_weight (float, optional): See :func:`retrain_classifier`.
            Defaults to the model's ``unseen_weight``.
        aliases: Alias table of the builder. Defaults to None.
        normalize (str, optional): Override of the embeddings' normalisation.
        allow_missing (bool): See :func:`embed_new_classes`.
        num_samples, steps, lr, seed: See :func:`retrain_classifier`.
        cfg (Config, optional): The model's config. Defaults to
            ``model.cfg``.

    Returns:
        nn.Module: A new model (the input is unchanged), in eval mode on the
        input's device, with ``cfg`` and ``dataset_meta`` (classes, palette)
        set; the new classes are last and belong to the unseen classes.

    Raises:
        AddClassesError: A bad name, option, model or cache (named).
        KeyError: A name without a word vector (named, with spellings).
    """
    if seen_source not in SEEN_SOURCES:
        raise AddClassesError(f'seen_source={seen_source!r}; expected one of '
                              f'{SEEN_SOURCES}')
    if retrain not in RETRAIN_ROWS:
        raise AddClassesError(f'retrain={retrain!r}; expected one of '
                              f'{RETRAIN_ROWS}')
    for name, value in (('num_samples', num_samples), ('steps', steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AddClassesError(f'{name}={value!r}; expected an integer '
                                  '>= 1')
    weights = (('lr',
                lr), ) if new_class_weight is None else (('lr', lr),
                                                         ('new_class_weight',
                                                          new_class_weight))
    for name, value in weights:
        if isinstance(value, bool) or not isinstance(
                value, (int, float)) or not 0 < value < float('inf'):
            raise AddClassesError(f'{name}={value!r}; expected a number > 0')
    cfg = cfg if cfg is not None else getattr(model, 'cfg', None)
    if cfg is None:
        raise AddClassesError('the model has no .cfg (init_model sets it); '
                              'pass cfg=')
    for part in ('generative_head', 'class_embedding'):
        if not hasattr(model, part):
            raise AddClassesError(
                f'the model ({type(model).__name__}) has no {part}: adding '
                'classes needs a ZS3Net stage-2 model (ZS3EncoderDecoder). '
                f'Train one: {STAGE2_CONFIG_HINT}')
    head = model.decode_head
    old_classes = list(model.class_embedding.class_names)
    names = check_new_class_names(classes, old_classes)
    seen_source, cache = resolve_seen_source(seen_source, seen_features, model)
    vectors = embed_new_classes(names, model.class_embedding, word_vectors,
                                aliases, normalize, allow_missing)

    meta = dict(getattr(model, 'dataset_meta', None) or {})
    palette = meta.get('palette')
    if not palette or len(palette) != len(old_classes):
        palette = new_class_palette([], len(old_classes))
    palette = [list(map(int, p)) for p in palette]
    palette = palette + new_class_palette(palette, len(names))
    unseen = [old_classes[i] for i in head.unseen_indices]
    new_cfg = config_for_classes(cfg, old_classes, old_classes + names,
                                 unseen + names, palette,
                                 model.class_embedding.dim)

    device = next(model.parameters()).device
    embeddings = torch.cat([
        model.class_embedding().detach(),
        torch.from_numpy(vectors).to(device)
    ])
    new_ids = list(range(len(old_classes), len(old_classes) + len(names)))
    weight, bias = retrain_classifier(model, embeddings, new_ids, seen_source,
                                      cache, retrain, new_class_weight,
                                      num_samples, steps, lr, seed)

    state = {
        k: v
        for k, v in model.state_dict().items()
        if not k.startswith('auxiliary_head.')
    }
    emb_meta = json_safe(model.class_embedding.meta)
    emb_meta.setdefault('added_classes', []).extend(names)
    state['class_embedding.embeddings'] = embeddings
    state['class_embedding._extra_state'] = encode_extra_state(
        dict(class_names=old_classes + names, meta=emb_meta))
    conv = head.classifier.conv
    state['decode_head.classifier.conv.weight'] = weight.view(
        len(weight), *conv.weight.shape[1:]).to(conv.weight.dtype)
    state['decode_head.classifier.conv.bias'] = bias.to(conv.bias.dtype)
    new_model = _build_model(new_cfg, 'cpu')
    new_model.load_state_dict({k: v.cpu() for k, v in state.items()})
    new_model = new_model.to(device).eval()
    new_model.dataset_meta = dict(
        meta, classes=old_classes + names, palette=palette)
    print_log(
        f'add_classes: added {names}; the retrain used {seen_source} '
        'features of the seen classes',
        logger='current')
    new_model.zs3_add_classes_record = dict(
        classes=names,
        seen_source=seen_source,
        retrain=retrain,
        new_class_weight=float(model.unseen_weight if new_class_weight is
                               None else new_class_weight))
    return new_model


def json_safe(obj: Any) -> Any:
    """``obj`` with tuples as lists (JSON round trip of plain data)."""
    import json
    return json.loads(json.dumps(obj or {}))


def unseen_class_names(model) -> List[str]:
    """The classes a model's training never labelled: the split's unseen
    classes, including added ones.

    Args:
        model (nn.Module): A segmentor; a ``ZeroShotDecodeHead`` with a split
            knows its unseen classes, other heads have none.

    Returns:
        list[str]: Their names.
    """
    split = getattr(getattr(model, 'decode_head', None), 'split', None)
    return list(split.unseen_names) if split is not None else []


def config_path_for(out: str) -> str:
    """The config written next to checkpoint ``out``: ``x.pth`` ->
    ``x.py``."""
    return osp.splitext(out)[0] + '.py'


def check_outputs(out: str, inputs: Sequence[str] = ()) -> None:
    """Check that ``out`` and its config (``<out>.py``) can be written and
    are none of ``inputs``.

    Args:
        out (str): The checkpoint to write.
        inputs (Sequence[str]): Files that are read (the checkpoint, the
            config).

    Raises:
        AddClassesError: Naming the path and why (a folder, an input, a
            folder that cannot be created or written).
    """
    from mmseg_zs3.embeddings import check_output_path
    try:
        check_output_path(out, '--out', inputs)
        check_output_path(
            config_path_for(out), 'the config next to --out', inputs)
    except ValueError as e:
        raise AddClassesError(str(e)) from None
    if osp.abspath(config_path_for(out)) == osp.abspath(out):
        raise AddClassesError(f'--out {out!r} ends in .py: it would be '
                              'overwritten by its own config; name it .pth')


def add_classes_to_checkpoint(checkpoint: str,
                              classes: Sequence[str],
                              out: str,
                              config: Union[None, str, Config] = None,
                              word_vectors=None,
                              seen_source: str = 'auto',
                              seen_features: Optional[Sequence[str]] = None,
                              device: str = 'cpu',
                              **kwargs) -> Dict[str, Any]:
    """Write a checkpoint (and its config) that also segments ``classes``.

    Every input is checked before any work: the output paths (``out`` and
    ``<out>.py``) must be writable and differ from the inputs, the
    checkpoint must be a ZS3Net stage-2 one with a config (its
    ``meta['cfg']`` or ``config``), the names new and embeddable.

    Args:
        checkpoint (str): A stage-2 checkpoint (``epoch_10.pth`` of
            ``tools/train.py`` with a ``zs3net_*`` config).
        classes (Sequence[str]): Names to add.
        out (str): The new checkpoint; its config goes to ``<out>.py``.
        config (str | Config, optional): The checkpoint's config. Defaults
            to the one mmengine saved in the checkpoint.
        word_vectors: See :func:`embed_new_classes`.
        seen_source (str): See :func:`add_classes`.
        seen_features (Sequence[str], optional): Feature caches for
            ``seen_source='real'`` or ``'auto'``; defaults to those next to
            the checkpoint (the stage-2 run's work dir).
        device (str): Where the retrain runs. Defaults to 'cpu'.
        **kwargs: ``retrain``, ``new_class_weight``, ``aliases``,
            ``normalize``, ``allow_missing``, ``num_samples``, ``steps``,
            ``lr``, ``seed`` of :func:`add_classes`.

    Returns:
        dict: ``checkpoint`` and ``config`` (the written paths), ``classes``
        (all), ``added``, ``unseen``, ``seconds`` (wall time) and
        ``cpu_seconds`` (CPU time of this process).

    Raises:
        AddClassesError: A bad input (named): an unwritable output, a
            checkpoint without generator or config, a duplicate name, a
            seen-feature cache of another model.
        KeyError: A name without a word vector (named, with spellings).
        FileNotFoundError: No such checkpoint.
    """
    from mmseg_zs3.utils.extra_state import decode_extra_state
    start, start_cpu = time.perf_counter(), time.process_time()
    out_config = config_path_for(out)
    check_outputs(out,
                  [checkpoint] + ([config] if isinstance(config, str) else []))
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} not found')
    ckpt = load_from_local(checkpoint, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise AddClassesError(f'{checkpoint!r} is not an mmengine checkpoint '
                              '(a dict with state_dict)')
    state = checkpoint_state_dict(ckpt)
    check_stage2_state(state, repr(checkpoint))
    extra = decode_extra_state(
        state.get('class_embedding._extra_state'),
        'class_embedding._extra_state') or {}
    if extra.get('class_names'):
        check_new_class_names(classes, extra['class_names'])
    cfg = _config_of(ckpt, config, repr(checkpoint))
    if seen_source != 'generated' and seen_features is None:
        seen_features = find_feature_caches(checkpoint)

    model = _build_model(cfg, 'cpu')
    model.load_state_dict(state, strict=True)
    model = model.to(device)
    meta = dict(ckpt.get('meta') or {})
    model.dataset_meta = dict(meta.get('dataset_meta') or {})
    new_model = add_classes(
        model,
        classes,
        word_vectors=word_vectors,
        seen_source=seen_source,
        seen_features=seen_features,
        cfg=cfg,
        **kwargs)
    names = list(new_model.class_embedding.class_names)
    added = names[len(model.class_embedding.class_names):]
    new_cfg = new_model.cfg
    text = new_cfg.pretty_text
    new_meta = {
        k: v
        for k, v in meta.items() if k not in ('cfg', 'dataset_meta')
    }
    history = list(new_meta.get('zs3_added_classes') or [])
    history.append(
        dict(
            new_model.zs3_add_classes_record,
            base_checkpoint=osp.basename(checkpoint),
            time=time.strftime('%Y%m%d_%H%M%S')))
    new_meta.update(
        cfg=text,
        dataset_meta=dict(new_model.dataset_meta),
        zs3_added_classes=history)
    state_out = {k: v.cpu() for k, v in new_model.state_dict().items()}
    with atomic_open(out) as f:
        torch.save(dict(meta=new_meta, state_dict=state_out), f)
    with atomic_open(out_config, 'w', encoding='utf-8') as f:
        f.write(text)
    return dict(
        checkpoint=out,
        config=out_config,
        classes=names,
        added=added,
        unseen=unseen_class_names(new_model),
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - start_cpu)
