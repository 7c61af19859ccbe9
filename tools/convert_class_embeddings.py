"""Convert a published class-embedding array to our named format.

Example (SPNet's 182-row COCO-Stuff fastText array, to mmseg's 171 classes,
checked for an offset class list against the packaged GloVe)::

    python tools/convert_class_embeddings.py fasttext.pkl \
        --classes coco_stuff_182 --reorder-to COCOStuffDataset --drop-extra \
        --check-with glove-packaged --out coco_fasttext.npz
"""
import argparse
import sys

import mmseg_zs3  # noqa: F401
from mmseg_zs3.embeddings import (NORMALIZATIONS, import_class_embeddings,
                                  load_packaged_glove, load_word_vectors,
                                  resolve_class_names)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('array', help='.pkl (incl. latin-1), .npy or torch file')
    p.add_argument('--classes', required=True,
                   help="names of the array's rows in order: a file, "
                   "'coco_stuff_182', a dataset type, or 'a,b,c'")
    p.add_argument('--key', help='dict entry holding the matrix')
    p.add_argument('--source', help='provenance recorded in the file')
    p.add_argument('--normalize', default='none', choices=NORMALIZATIONS)
    p.add_argument('--reorder-to', help='target class order (dataset type, '
                   'file or list)')
    p.add_argument('--drop-extra', action='store_true',
                   help='drop rows not in --reorder-to (e.g. COCO unused ids)')
    p.add_argument('--check-with', help="word vectors ('glove-packaged' or "
                   'a file) to check the class list is not offset')
    p.add_argument('--cache-dir')
    p.add_argument('--out', required=True, help='output .npz')
    return p.parse_args()


def main():
    args = parse_args()
    reference = None
    if args.check_with == 'glove-packaged':
        reference = load_packaged_glove(args.cache_dir)
    elif args.check_with:
        reference = load_word_vectors(args.check_with,
                                      cache_dir=args.cache_dir)
    emb = import_class_embeddings(args.array, args.classes, key=args.key,
                                  source=args.source,
                                  normalize=args.normalize,
                                  reference=reference)
    if 'alignment' in emb.meta:
        print(f"alignment check: {emb.meta['alignment']}")
    if args.reorder_to:
        emb = emb.reorder(resolve_class_names(args.reorder_to),
                          drop_extra=args.drop_extra)
        if emb.meta.get('dropped'):
            print(f"dropped {len(emb.meta['dropped'])} rows: "
                  f"{emb.meta['dropped']}")
    emb.save(args.out)
    print(f'wrote {args.out}: {emb}')


if __name__ == '__main__':
    try:
        main()
    except (KeyError, ValueError, FileNotFoundError) as e:
        sys.exit(f'error: {e.args[0] if e.args else e}')
