"""Convert a published class-embedding array to our named format.

Example (SPNet's 182-row COCO-Stuff fastText array, to mmseg's 171 classes,
checked for an offset or permuted class list against the packaged GloVe)::

    python tools/convert_class_embeddings.py fasttext.pkl \
        --classes coco_stuff_182 --reorder-to COCOStuffDataset --drop-extra \
        --check-with glove-packaged --out coco_fasttext.npz

No input file can run code: pickles are read with an unpickler that only
builds numpy arrays, torch files with weights_only=True, .npy/.npz without
pickled objects. Every argument is checked before the array is read.
"""
import argparse
import os.path as osp
import pickle
import sys

import mmseg_zs3  # noqa: F401
from mmseg_zs3.apis.cli_types import HelpFormatter
from mmseg_zs3.embeddings import (NORMALIZATIONS, check_output_path,
                                  import_class_embeddings, load_packaged_glove,
                                  load_word_vectors, resolve_class_names)
from mmseg_zs3.embeddings.word_vectors import check_word_vector_source

PACKAGED = 'glove-packaged'


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option with its help and default)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    p.add_argument(
        'array',
        help='the published array: .pkl (numpy arrays, '
        'Python 2 latin-1 pickles too), .npy, .npz or a '
        'torch.save file')
    p.add_argument(
        '--classes',
        required=True,
        help="names of the array's rows in order: a file, "
        "'coco_stuff_182', a dataset type, or 'a,b,c'")
    p.add_argument(
        '--key',
        help='dict entry holding the matrix, when the '
        'file holds a dict; default: none (the file holds the '
        'matrix, or a {class name: vector} dict)')
    p.add_argument(
        '--source',
        help='provenance recorded in the file; '
        'default: the array file name')
    p.add_argument(
        '--normalize',
        default='none',
        choices=NORMALIZATIONS,
        help='none keeps the published values; l2: rows to unit '
        'length; max_norm: divide by the largest row norm')
    p.add_argument(
        '--reorder-to',
        help='target class order (dataset type, '
        'file or list); default: keep the order of --classes')
    p.add_argument(
        '--drop-extra',
        action='store_true',
        help='drop rows not in --reorder-to (e.g. the COCO '
        'unused ids)')
    p.add_argument(
        '--check-with',
        help=f"word vectors ('{PACKAGED}' or a "
        'file) to check that the class list matches the rows '
        '(not offset, not permuted); default: no check')
    p.add_argument(
        '--min-correlation',
        type=float,
        default=0.3,
        help='with --check-with: the lowest accepted correlation '
        'of class-to-class similarities between the array and '
        'the reference (a right list scores well above, a '
        'permuted one near 0)')
    p.add_argument(
        '--trust-pickle',
        action='store_true',
        help='let --check-with read gensim .kv/.model files. '
        'They are Python pickles: loading one runs any code its '
        'author put in it, so pass this only for files you made '
        'or trust')
    p.add_argument(
        '--cache-dir',
        help='word-vector cache of --check-with; '
        'default: $MMSEG_ZS3_CACHE/word_vectors or '
        '~/.cache/mmseg_zs3/word_vectors')
    p.add_argument(
        '--out',
        required=True,
        help='output .npz (written only when complete)')
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def check_args(args) -> None:
    """Check every argument before the array is read.

    Raises:
        ValueError, TypeError, FileNotFoundError: Naming the bad argument.
    """
    check_output_path(args.out, '--out', inputs=[args.array])
    resolve_class_names(args.classes)
    if args.reorder_to:
        resolve_class_names(args.reorder_to)
    elif args.drop_extra:
        raise ValueError('--drop-extra needs --reorder-to')
    if not -1 <= args.min_correlation <= 1:
        raise ValueError(f'--min-correlation {args.min_correlation}: a '
                         'correlation, between -1 and 1')
    if args.check_with and args.check_with != PACKAGED:
        check_word_vector_source(
            args.check_with, trust_pickle=args.trust_pickle)


def run(args) -> None:
    """Check ``args`` (see :func:`check_args`), then do the work."""
    check_args(args)
    reference = None
    if args.check_with == PACKAGED:
        reference = load_packaged_glove(args.cache_dir)
    elif args.check_with:
        reference = load_word_vectors(
            args.check_with,
            cache_dir=args.cache_dir,
            trust_pickle=args.trust_pickle)
    emb = import_class_embeddings(
        args.array,
        args.classes,
        key=args.key,
        source=args.source,
        normalize=args.normalize,
        reference=reference,
        min_correlation=args.min_correlation)
    if 'alignment' in emb.meta:
        print(f"alignment check: {emb.meta['alignment']}")
    if args.reorder_to:
        emb = emb.reorder(
            resolve_class_names(args.reorder_to), drop_extra=args.drop_extra)
        if emb.meta.get('dropped'):
            print(f"dropped {len(emb.meta['dropped'])} rows: "
                  f"{emb.meta['dropped']}")
    if osp.exists(args.out):
        print(f'replacing the existing {args.out}')
    emb.save(args.out)
    print(f'wrote {args.out}: {emb}')


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
