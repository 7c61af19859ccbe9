"""What a checkpoint holds, compared with the model that loads it.

mmengine loads checkpoints with ``strict=False``: a classifier of another
size is skipped with a ``size mismatch`` warning, and weights the checkpoint
lacks are listed as ``missing keys``; either way the model keeps its random
initialisation and a test reports chance-level numbers. These helpers find
such cases from the keys and shapes alone (no weights are loaded) and say, in
words, what kind of checkpoint a file is. The hooks of
:mod:`mmseg_zs3.engine.hooks` raise or warn with them.
"""
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

#: Ends of the state-dict keys whose first dimension is the class count: the
#: classifier of an mmseg decode head (``conv_seg``), the classifier of a
#: ``ZeroShotDecodeHead`` (``classifier.conv``) and class-embedding rows.
CLASSIFIER_KEY_SUFFIXES = ('conv_seg.weight', 'classifier.conv.weight',
                           'class_embedding.embeddings')

#: Parts of a segmentor that prediction does not use: a checkpoint may lack
#: them at test time (mmseg's ``EncoderDecoder.predict`` runs the backbone,
#: neck and decode head only; ZS3Net's generator only trains).
NOT_USED_FOR_PREDICTION = ('auxiliary_head.', 'generative_head.')

# Normalisation statistics: buffers that a checkpoint must provide with the
# weights (``num_batches_tracked`` is not needed, as mmengine decides too).
_STATISTICS_BUFFERS = ('running_mean', 'running_var')


def checkpoint_state_dict(checkpoint: Mapping) -> Dict[str, object]:
    """The state dict of ``checkpoint``, DDP's ``module.`` prefix removed.

    Args:
        checkpoint (Mapping): A loaded checkpoint (with or without a
            ``state_dict`` entry) or a state dict.

    Returns:
        dict: Key to tensor.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    return {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state_dict.items()
    }


def checkpoint_classes(checkpoint: Mapping) -> Optional[Tuple[str, ...]]:
    """The class names that mmengine saved with ``checkpoint``, if any.

    mmengine's ``Runner.save_checkpoint`` stores the training dataset's
    ``metainfo`` as ``meta['dataset_meta']``.

    Args:
        checkpoint (Mapping): A loaded checkpoint.

    Returns:
        tuple[str] | None: ``meta.dataset_meta.classes``, or None when the
        checkpoint does not say.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    dataset_meta = meta.get('dataset_meta') if isinstance(meta,
                                                          Mapping) else None
    classes = dataset_meta.get('classes') if isinstance(dataset_meta,
                                                        Mapping) else None
    if classes is None:
        return None
    return tuple(str(c) for c in classes)


def find_num_classes_mismatches(
    checkpoint: Mapping,
    expected: Mapping[str, int],
    key_suffixes: Sequence[str] = CLASSIFIER_KEY_SUFFIXES
) -> List[Tuple[str, int, int]]:
    """The classifier keys of ``checkpoint`` with another class count.

    Args:
        checkpoint (Mapping): A loaded checkpoint or a state dict.
        expected (Mapping[str, int]): The class count that the model expects
            for each classifier key (see
            :func:`expected_num_classes_from_model`).
        key_suffixes (Sequence[str]): Only keys with one of these ends are
            compared. Defaults to :data:`CLASSIFIER_KEY_SUFFIXES`.

    Returns:
        list[tuple[str, int, int]]: ``(key, count in the checkpoint, count
        of the model)`` of every differing key.
    """
    found = []
    state_dict = checkpoint_state_dict(checkpoint)
    for key, value in state_dict.items():
        if not key.endswith(tuple(key_suffixes)) or key not in expected:
            continue
        if key.endswith('classifier.conv.weight') and (
                key[:-len('conv.weight')] + 'class_embedding.embeddings'
                in state_dict):
            # A projection classifier (DeViSE): its conv maps to the
            # embedding space; the class count is in its embedding rows.
            continue
        count = int(value.shape[0])
        if count != int(expected[key]):
            found.append((key, count, int(expected[key])))
    return found


def check_checkpoint_num_classes(
        checkpoint: Mapping,
        expected: Mapping[str, int],
        source: str = 'the checkpoint',
        key_suffixes: Sequence[str] = CLASSIFIER_KEY_SUFFIXES) -> None:
    """Check the classifier size of ``checkpoint`` against the model's.

    Args:
        checkpoint (Mapping): A loaded checkpoint (with or without
            ``state_dict``) or a state dict.
        expected (Mapping[str, int]): The class count that the model expects
            for each classifier weight key, e.g.
            ``{'decode_head.conv_seg.weight': 17}``.
        source (str): How to name the checkpoint in the error (its path).
            Defaults to 'the checkpoint'.
        key_suffixes (Sequence[str]): Ends of the classifier keys to compare.
            Defaults to :data:`CLASSIFIER_KEY_SUFFIXES`.

    Raises:
        ValueError: Naming both class counts and the key, when they differ.
    """
    mismatches = find_num_classes_mismatches(checkpoint, expected,
                                             key_suffixes)
    if mismatches:
        key, found, want = mismatches[0]
        raise ValueError(
            f'{source} was trained for {found} classes (`{key}` has {found} '
            f'outputs), but the config builds a model with {want} classes. '
            "Use a checkpoint trained for this config's classes (to "
            'fine-tune from it instead, train with `load_from`: the '
            'classifier is then re-initialised).')


def _classifier_convs(model: nn.Module) -> Iterable[Tuple[str, int]]:
    """``(state-dict key prefix, class count)`` of every classifier."""
    for name, module in model.named_modules():
        num_classes = getattr(module, 'num_classes', None)
        if not isinstance(num_classes, int):
            continue
        prefix = f'{name}.' if name else ''
        out_channels = getattr(module, 'out_channels', num_classes)
        if not isinstance(out_channels, int):
            out_channels = num_classes
        conv_seg = getattr(module, 'conv_seg', None)
        if getattr(conv_seg, 'weight', None) is not None or isinstance(
                getattr(module, 'classifier', None), nn.Module):
            # an mmseg decode head, or a head that wraps one: a plain head's
            # checkpoint holds `conv_seg` (ZeroShotDecodeHead maps it)
            yield prefix + 'conv_seg.', out_channels
        conv = getattr(module, 'conv', None)
        if (name.endswith('classifier') and isinstance(conv, nn.Conv2d)
                and conv.out_channels == num_classes
                and not hasattr(module, 'class_embedding')):
            yield prefix + 'conv.', num_classes  # ConvClassifier
        if name.endswith('class_embedding') and isinstance(
                getattr(module, 'embeddings', None), torch.Tensor):
            yield prefix + 'embeddings', num_classes


def expected_num_classes_from_model(
        model: nn.Module,
        key_suffixes: Sequence[str] = CLASSIFIER_KEY_SUFFIXES
) -> Dict[str, int]:
    """Classifier keys of ``model`` and their class counts.

    Covers mmseg's decode heads (``conv_seg``, also under ``auxiliary_head``
    lists), ``ZeroShotDecodeHead`` (its ``classifier.conv`` and the plain
    head's ``conv_seg`` that it loads from stage-1 checkpoints) and class
    embeddings (``class_embedding.embeddings``).

    Args:
        model (nn.Module): The (unwrapped) model.
        key_suffixes (Sequence[str]): Ends of the keys to return. Defaults
            to :data:`CLASSIFIER_KEY_SUFFIXES`.

    Returns:
        dict[str, int]: E.g. ``{'decode_head.conv_seg.weight': 17,
        'decode_head.classifier.conv.weight': 17}``.
    """
    expected = {}
    for prefix, count in _classifier_convs(model):
        key = prefix + 'weight' if prefix.endswith('.') else prefix
        if key.endswith(tuple(key_suffixes)):
            expected[key] = count
    return expected


def expected_num_classes_from_config(model_cfg: Mapping) -> Dict[str, int]:
    """Classifier weight keys of the model of ``model_cfg`` and class counts.

    Reads ``num_classes`` (or ``out_channels``, as mmseg's heads do for binary
    sigmoid segmentation) of ``decode_head`` and ``auxiliary_head``.

    Args:
        model_cfg (Mapping): The ``model`` config.

    Returns:
        dict[str, int]: E.g. ``{'decode_head.conv_seg.weight': 17}``.
    """
    expected = {}
    for head_name in ('decode_head', 'auxiliary_head'):
        heads = model_cfg.get(head_name)
        if not heads:
            continue
        is_list = isinstance(heads, (list, tuple))
        for i, head in enumerate(heads if is_list else [heads]):
            if 'num_classes' not in head:
                continue
            prefix = f'{head_name}.{i}' if is_list else head_name
            expected[f'{prefix}.conv_seg.weight'] = head.get(
                'out_channels', head['num_classes'])
    return expected


def classifier_keys(model: nn.Module) -> List[str]:
    """Every state-dict key of a classifier of ``model`` (weights, biases).

    Args:
        model (nn.Module): The (unwrapped) model.

    Returns:
        list[str]: The keys under the prefixes of
        :func:`expected_num_classes_from_model`, as a checkpoint of this model
        or of its plain-head stage 1 would name them.
    """
    keys = []
    for prefix, _ in _classifier_convs(model):
        if prefix.endswith('.'):
            keys += [prefix + 'weight', prefix + 'bias']
        else:
            keys.append(prefix)
    return keys


def required_keys(
    model: nn.Module,
    modules: Optional[Sequence[nn.Module]] = None,
    skip_prefixes: Sequence[str] = ()
) -> List[str]:
    """The state-dict keys whose values must come from a checkpoint.

    Parameters and normalisation statistics (``running_mean``,
    ``running_var``); not ``num_batches_tracked``, nor buffers that the
    model computes or reads itself (class embeddings).

    Args:
        model (nn.Module): The (unwrapped) model.
        modules (Sequence[nn.Module], optional): Only the tensors of these
            sub-modules (e.g. ZS3Net's frozen feature extractor). Defaults to
            None: the whole model.
        skip_prefixes (Sequence[str]): Keys with these beginnings are not
            required. Defaults to ().

    Returns:
        list[str]: The keys, in the model's order.
    """
    wanted = None
    if modules is not None:
        wanted = {id(t) for m in modules for t in m.parameters()}
        wanted |= {id(t) for m in modules for t in m.buffers()}
    keys = [
        k for k, t in model.named_parameters()
        if wanted is None or id(t) in wanted
    ]
    keys += [
        k for k, t in model.named_buffers()
        if k.rsplit('.', 1)[-1] in _STATISTICS_BUFFERS and (
            wanted is None or id(t) in wanted)
    ]
    return [k for k in keys if not k.startswith(tuple(skip_prefixes))]


def component(key: str) -> str:
    """The part of a segmentor that ``key`` belongs to.

    ``'backbone'``, ``'neck'``, ``'auxiliary_head'``, ``'generative_head'``;
    for a ``ZeroShotDecodeHead`` ``'decode_head.head'`` (the features) or
    ``'decode_head.classifier'``; for a plain head ``'decode_head'`` and
    ``'decode_head.conv_seg'`` (its classifier).

    Args:
        key (str): A state-dict key.

    Returns:
        str: The component.
    """
    parts = key.split('.')
    if parts[0] == 'decode_head' and len(parts) > 2 and parts[1] in (
            'head', 'classifier', 'conv_seg'):
        return '.'.join(parts[:2])
    return parts[0]


def group_by_component(keys: Iterable[str]) -> Dict[str, int]:
    """Count ``keys`` per :func:`component`, in first-seen order."""
    counts: Dict[str, int] = {}
    for key in keys:
        part = component(key)
        counts[part] = counts.get(part, 0) + 1
    return counts


def describe_checkpoint(state_dict: Mapping) -> str:
    """Say in words what kind of checkpoint ``state_dict`` is.

    Args:
        state_dict (Mapping): The checkpoint's state dict (see
            :func:`checkpoint_state_dict`).

    Returns:
        str: E.g. ``'a ZS3Net stage-2 checkpoint (feature extractor,
        classifier and generator)'``.
    """
    keys = list(state_dict)
    if not keys:
        return 'an empty checkpoint (its state dict holds no weights)'
    has = {
        c: any(k.startswith(c + '.') for k in keys)
        for c in ('backbone', 'decode_head', 'generative_head')
    }
    classifier = any(
        k.endswith(('conv_seg.weight', 'classifier.conv.weight'))
        for k in keys)
    if has['generative_head'] and has['backbone']:
        return ('a ZS3Net stage-2 checkpoint (feature extractor, classifier '
                'and generator)')
    if has['generative_head']:
        return 'a checkpoint with a generator but no backbone'
    if has['backbone'] and classifier:
        return ('a segmentation checkpoint (a stage-1 network: feature '
                'extractor and classifier, no generator)')
    if has['backbone'] and has['decode_head']:
        return 'a segmentation checkpoint without a classifier'
    if has['backbone']:
        return 'a backbone-only checkpoint (no decode head)'
    if has['decode_head']:
        return 'a decode-head checkpoint without a backbone'
    first = ', '.join(sorted({k.split('.')[0] for k in keys})[:6]) or 'none'
    return ('a checkpoint of another kind of model (its top-level keys: '
            f'{first})')
