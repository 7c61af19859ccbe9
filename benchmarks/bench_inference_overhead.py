"""Inference time of the ZS3Net model against the stock mmseg model.

The ZS3Net model of a stage-2 config (``ZS3EncoderDecoder`` with its
``ZeroShotDecodeHead`` wrapping the mmseg decode head, and the
``ZS3DataPreProcessor``) against mmseg's ``EncoderDecoder`` with the same
backbone, the same decode head (its ``conv_seg`` as classifier) and
``SegDataPreProcessor``, both with NCHW image batches: the stock model is
initialised, its weights are copied into the ZS3Net model (the head maps a
plain head's keys), and the two
are checked to give the same scores before anything is timed. Both run
``model.test_step`` (preprocessing, inference, resizing of the scores and the
argmax: what ``tools/test.py`` runs per batch) on the same input under
``torch.inference_mode``, interleaved in one process: ``--reps`` rounds
after ``--warmup`` rounds, alternating which model goes first, and the ratio
of the medians is printed (target: <= 1.01).

The class embeddings that the ZS3Net config reads are replaced by random
ones of the same shape (they do not enter inference), and no pretrained
weights are loaded. One torch thread by default (``--threads 0`` keeps
torch's default): on a shared CPU more threads make timings erratic. Run::

    python benchmarks/bench_inference_overhead.py [--config CONFIG]
        [--size 64] [--batch 1] [--reps 300] [--device cuda] [--amp]
"""
import argparse
import contextlib
import copy
import os.path as osp
import platform
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import DictAction

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'zs3',
                          'zs3net_unet-s2-fcn_1xb16-10e_shapes-u4-64x64.py')
TARGET_RATIO = 1.01


def _find(node, key: str):
    """Yield every dict nested in ``node`` that has ``key``."""
    if isinstance(node, dict):
        if key in node:
            yield node
        for value in node.values():
            yield from _find(value, key)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _find(value, key)


def _weights_off(node) -> None:
    """Drop ``init_cfg`` / ``pretrained``: nothing is downloaded."""
    for owner in list(_find(node, 'init_cfg')):
        owner.pop('init_cfg')
    for owner in _find(node, 'pretrained'):
        owner['pretrained'] = None


def random_class_embeddings(model_cfg: dict, folder: str) -> None:
    """Point every ``embedding_file`` of ``model_cfg`` at random vectors of
    the classes and dimension it asks for, written into ``folder``."""
    from mmseg_zs3.embeddings import ClassEmbeddings, resolve_class_names
    embed_dims = [n['embed_dim'] for n in _find(model_cfg, 'embed_dim')]
    for i, node in enumerate(_find(model_cfg, 'embedding_file')):
        names = resolve_class_names(node['classes'])
        dim = node.get('dim') or (embed_dims[0] if embed_dims else 300)
        vectors = np.random.default_rng(i).standard_normal((len(names), dim))
        path = osp.join(folder, f'class_embeddings_{i}.npz')
        ClassEmbeddings(names, vectors, dict(sources=['random'])).save(path)
        node['embedding_file'] = path


def stock_model_config(zs3_model_cfg: dict) -> dict:
    """The mmseg ``EncoderDecoder`` config of a ZS3Net model config: the same
    backbone, neck, decode head (the wrapped one) and preprocessing.

    Args:
        zs3_model_cfg (dict): A ``ZS3EncoderDecoder`` config whose
            ``decode_head`` is a ``ZeroShotDecodeHead``.

    Returns:
        dict: The stock model's config.

    Raises:
        ValueError: ``zs3_model_cfg`` is no ZS3Net model config.
    """
    head = zs3_model_cfg.get('decode_head') or {}
    if zs3_model_cfg.get('type') != 'ZS3EncoderDecoder' or \
            head.get('type') != 'ZeroShotDecodeHead':
        raise ValueError(
            'expected a ZS3Net stage-2 config (model.type '
            "'ZS3EncoderDecoder' with a 'ZeroShotDecodeHead'), got model "
            f'type {zs3_model_cfg.get("type")!r} with decode_head type '
            f'{head.get("type")!r}')
    stock = {
        k: copy.deepcopy(v)
        for k, v in zs3_model_cfg.items()
        if k in ('backbone', 'neck', 'auxiliary_head', 'train_cfg', 'test_cfg')
    }
    stock['type'] = 'EncoderDecoder'
    stock['decode_head'] = copy.deepcopy(head['head'])
    preprocessor = copy.deepcopy(zs3_model_cfg['data_preprocessor'])
    preprocessor['type'] = 'SegDataPreProcessor'
    # ZS3DataPreProcessor's option; build_models drops it from the ZS3Net
    # model too, so that both run the same (NCHW) convolution kernels
    preprocessor.pop('channels_last', None)
    stock['data_preprocessor'] = preprocessor
    return stock


def build_models(
        config: str,
        size: int,
        device: str,
        folder: str,
        cfg_options: Optional[dict] = None) -> Dict[str, torch.nn.Module]:
    """The stock mmseg model of ``config``'s architecture and the ZS3Net
    model with the stock model's (initialised) weights copied in.

    ``zs3net`` computes what the stock model computes (the stage-1
    classifier kept, no feature normalisation), so the two must give the
    same scores; ``zs3net_configured`` is the ZS3Net model with the
    config's ``feature_norm`` / ``feature_scale`` (the shapes configs
    L2-normalise the features before the classifier), only when those
    differ from the identity.

    Args:
        config (str): A ZS3Net stage-2 config file.
        size (int): Input height and width (the preprocessors' ``size``).
        device (str): ``'cpu'`` or ``'cuda'``.
        folder (str): Where the random class embeddings are written.
        cfg_options (dict, optional): Overrides of the config, as
            ``--cfg-options`` of the tools (e.g. ``model.backbone.depth``).

    Returns:
        dict[str, nn.Module]: ``stock``, ``zs3net`` (and
        ``zs3net_configured``), in eval mode on ``device``.

    Raises:
        ValueError: ``config`` is no ZS3Net config, or the weights do not
            carry over (a key of the stock model left unused, or one of the
            ZS3Net model other than the generator and embeddings missing).
    """
    from mmengine.config import Config, ConfigDict
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_zs3  # noqa: F401 (registrations, CPU-stack fixes)
    init_default_scope('mmseg')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = cfg.model.to_dict()
    _weights_off(model_cfg)
    stock_cfg = stock_model_config(model_cfg)
    model_cfg['data_preprocessor'].pop('channels_last', None)
    random_class_embeddings(model_cfg, folder)
    for owner in _find([model_cfg, stock_cfg], 'size'):
        owner['size'] = (size, size)
    # the stage-1 classifier is kept, so that the models can agree
    model_cfg['decode_head']['reinit_classifier'] = False
    variants = dict(zs3net=copy.deepcopy(model_cfg))
    variants['zs3net']['decode_head'].update(
        feature_norm='none', feature_scale=1.0)
    head = model_cfg['decode_head']
    if head.get('feature_norm', 'none') != 'none' or \
            float(head.get('feature_scale', 1.)) != 1.:
        variants['zs3net_configured'] = model_cfg
    torch.manual_seed(0)
    stock = MODELS.build(ConfigDict(stock_cfg))
    stock.init_weights()
    models = dict(stock=stock)
    for name, variant in variants.items():
        model = MODELS.build(ConfigDict(variant))
        result = model.load_state_dict(
            copy.deepcopy(stock.state_dict()), strict=False)
        missing = [
            k for k in result.missing_keys
            if not k.startswith(('generative_head.', 'class_embedding.'))
        ]
        if missing or result.unexpected_keys:
            raise ValueError(f'the stock weights do not carry over: missing '
                             f'{missing}, unused {result.unexpected_keys}')
        models[name] = model
    # as mmengine's Runner does in a one-process run
    return {
        k: revert_sync_batchnorm(m).to(device).eval()
        for k, m in models.items()
    }


def image_batch(batch: int, size: int, seed: int = 0) -> dict:
    """A batch as mmseg's test dataloader yields it: ``uint8`` images
    ``[3, size, size]`` and their data samples."""
    from mmseg.structures import SegDataSample
    generator = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(
            torch.randint(
                0,
                256, (3, size, size),
                generator=generator,
                dtype=torch.uint8))
        sample = SegDataSample()
        sample.set_metainfo(
            dict(img_shape=(size, size), ori_shape=(size, size)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def amp_context(device: str, amp: bool):
    """``torch.autocast`` (float16 on CUDA, bfloat16 on CPU), or nothing."""
    if not amp:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.startswith('cuda') else torch.bfloat16
    return torch.autocast(device_type=device.split(':')[0], dtype=dtype)


def scores(model: torch.nn.Module, data: dict, device: str,
           amp: bool) -> torch.Tensor:
    """The ``seg_logits`` of ``model.test_step(data)``, ``[B, C, H, W]``."""
    with torch.inference_mode(), amp_context(device, amp):
        out = model.test_step(copy.deepcopy(data))
    return torch.stack([o.seg_logits.data.float() for o in out])


def interleaved_times(runs: Dict[str, Callable[[],
                                               None]], reps: int, warmup: int,
                      sync: Callable[[], None]) -> Dict[str, List[float]]:
    """Seconds of each call, the callables taking turns in one loop.

    Round ``i`` runs them in order, or in reverse order for odd ``i``, so that
    neither always follows the other.

    Args:
        runs (dict[str, callable]): Named calls to time.
        reps (int): Timed rounds.
        warmup (int): Untimed rounds first.
        sync (callable): Waits for the device (``torch.cuda.synchronize``).

    Returns:
        dict[str, list[float]]: The ``reps`` times of each call.
    """
    names = list(runs)
    times: Dict[str, List[float]] = {n: [] for n in names}
    for i in range(warmup + reps):
        for name in (names if i % 2 == 0 else names[::-1]):
            sync()
            start = time.perf_counter()
            runs[name]()
            sync()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def peak_memory_mib(call: Callable[[], None], device: str) -> Optional[float]:
    """Peak CUDA memory allocated during one ``call()``, in MiB (the
    model's weights included); None on CPU."""
    if not device.startswith('cuda'):
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    call()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def _summary(values: np.ndarray, call: Callable[[], None],
             device: str) -> dict:
    """Median, 10th and 90th percentile (ms) and peak memory of a model."""
    return dict(
        median_ms=float(np.median(values)) * 1e3,
        p10_ms=float(np.percentile(values, 10)) * 1e3,
        p90_ms=float(np.percentile(values, 90)) * 1e3,
        peak_mib=peak_memory_mib(call, device))


def measure(config: str = DEFAULT_CONFIG,
            size: int = 64,
            batch: int = 1,
            reps: int = 300,
            warmup: int = 20,
            device: str = 'cpu',
            amp: bool = False,
            cfg_options: Optional[dict] = None) -> dict:
    """Build the models, check that they agree, time them interleaved.

    Args:
        config (str): A ZS3Net stage-2 config. Defaults to the shapes one.
        size (int): Input height and width. Defaults to 64.
        batch (int): Images per call. Defaults to 1.
        reps (int): Timed rounds. Defaults to 300.
        warmup (int): Untimed rounds. Defaults to 20.
        device (str): Defaults to 'cpu'.
        amp (bool): Autocast (float16 on CUDA, bfloat16 on CPU). Defaults to
            False.
        cfg_options (dict, optional): Overrides of the config.

    Returns:
        dict: The settings, ``max_abs_diff`` (of the ``zs3net`` and stock
        scores), and per model (``stock``, ``zs3net``, maybe
        ``zs3net_configured``) ``median_ms``, ``p10_ms``, ``p90_ms`` and
        ``peak_mib`` (CUDA only, else None); for the ZS3Net models also
        ``ratio`` and ``overhead_us``: the median over the rounds of its time
        divided by (minus) the stock model's time of the same round, each
        variant timed against the stock model in its own interleaved pass
        (the stock model's numbers are those of the first pass).

    Raises:
        RuntimeError: The ZS3Net model's scores differ from the stock
            model's beyond float tolerance (the weights did not carry over,
            or the wrapper changes the computation).
    """
    with tempfile.TemporaryDirectory() as folder:
        models = build_models(config, size, device, folder, cfg_options)
    data = image_batch(batch, size)
    a = scores(models['zs3net'], data, device, amp)
    b = scores(models['stock'], data, device, amp)
    diff = float((a - b).abs().max())
    tol = 1e-2 if amp else 1e-4
    if diff > tol * max(1., float(b.abs().max())):
        raise RuntimeError(f'the ZS3Net model and the stock model disagree '
                           f'by {diff:.3g} on the same input and weights')

    def run(model):
        return lambda: scores(model, data, device, amp)

    sync = torch.cuda.synchronize if device.startswith('cuda') else \
        (lambda: None)
    per_model = {}
    # each ZS3Net variant against the stock model, in its own interleaved
    # pass of two (ABBA: neither always runs first, or after the other)
    for name in [n for n in models if n != 'stock']:
        times = interleaved_times(
            dict(stock=run(models['stock']), model=run(models[name])), reps,
            warmup, sync)
        stock, values = np.asarray(times['stock']), np.asarray(times['model'])
        if 'stock' not in per_model:
            per_model['stock'] = _summary(stock, run(models['stock']), device)
        per_model[name] = _summary(values, run(models[name]), device)
        per_model[name].update(
            ratio=float(np.median(values / stock)),
            overhead_us=float(np.median(values - stock)) * 1e6)
    return dict(
        config=osp.relpath(config, REPO)
        if config.startswith(REPO) else config,
        cfg_options=cfg_options or {},
        size=size,
        batch=batch,
        reps=reps,
        device=device,
        amp=amp,
        threads=torch.get_num_threads(),
        max_abs_diff=diff,
        models=per_model)


TITLES = dict(
    stock='stock mmseg EncoderDecoder',
    zs3net='ZS3Net (same computation)',
    zs3net_configured='ZS3Net as configured')


def report(result: dict) -> str:
    """The printed lines of :func:`measure`'s result."""
    r = result
    lines = [
        f'inference overhead: {r["config"]}' +
        ''.join(f' {k}={v}' for k, v in r['cfg_options'].items()),
        f'  input {r["batch"]}x3x{r["size"]}x{r["size"]}, device '
        f'{r["device"]}, amp {"on" if r["amp"] else "off"}, torch threads '
        f'{r["threads"]}, {r["reps"]} interleaved rounds, test_step under '
        'inference_mode',
        f'  same scores: max |zs3net - stock| = {r["max_abs_diff"]:.2g}',
    ]
    for name, m in r['models'].items():
        ratio = '' if name == 'stock' else \
            f', ratio to stock {m["ratio"]:.4f} ' \
            f'({m["overhead_us"]:+.0f} us per call)'
        if m['peak_mib'] is not None:
            ratio += f', peak {m["peak_mib"]:.0f} MiB'
        lines.append(f'  {TITLES[name] + ":":28s} median {m["median_ms"]:8.3f}'
                     f' ms (p10 {m["p10_ms"]:.3f}, p90 {m["p90_ms"]:.3f})'
                     f'{ratio}')
    ratio = r['models']['zs3net']['ratio']
    verdict = 'OK' if ratio <= TARGET_RATIO else 'ABOVE TARGET'
    lines.append(f'  overhead ratio zs3net / stock (median of per-round '
                 f'ratios): {ratio:.4f}, target <= {TARGET_RATIO}: {verdict}')
    if 'zs3net_configured' in r['models']:
        lines.append('  (as configured adds the config\'s feature_norm / '
                     'feature_scale before the classifier: computation the '
                     'stock model does not do)')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='a ZS3Net stage-2 config (default: the shapes one)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, e.g. model.backbone.depth=50')
    parser.add_argument('--size', type=int, default=64, help='input size')
    parser.add_argument('--batch', type=int, default=1, help='images/call')
    parser.add_argument('--reps', type=int, default=300, help='timed rounds')
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument(
        '--amp', action='store_true', help='autocast (fp16 on CUDA)')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch threads on CPU (0: torch default)')
    args = parser.parse_args(argv)
    for flag in ('size', 'batch', 'reps'):
        if getattr(args, flag) < 1:
            parser.error(f'--{flag} {getattr(args, flag)}: expected >= 1')
    if args.warmup < 0 or args.threads < 0:
        parser.error('--warmup and --threads must be >= 0')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: no CUDA device here')
    if not osp.isfile(args.config):
        parser.error(f'--config {args.config}: no such file')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(args.config, args.size, args.batch, args.reps,
                     args.warmup, args.device, args.amp, args.cfg_options)
    print(f'{platform.processor() or platform.machine()}, torch '
          f'{torch.__version__}')
    print(report(result), flush=True)
    return result


if __name__ == '__main__':
    sys.exit(0 if main()['models']['zs3net']['ratio'] <= TARGET_RATIO else 1)
