"""Time building COCO-Stuff class embeddings from the packaged GloVe.

Runs the build twice, each in a fresh Python process, with one fresh cache
directory: the first run converts the packaged GloVe into the memory-mapped
KeyedVectors cache, the second only maps it. Prints, per run, the time of
the build itself (load vectors + build + save; the imports of mmseg_zs3 and
gensim are timed apart) and the process wall time.

Usage::

    python benchmarks/bench_class_embeddings.py [--classes COCOStuffDataset]
"""
import argparse
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import sys, time
t = time.perf_counter()
import mmseg_zs3, gensim.models
t_import = time.perf_counter() - t
from mmseg_zs3.embeddings import build_class_embeddings, load_packaged_glove
cache, classes, out = sys.argv[1:4]
t0 = time.perf_counter()
kv = load_packaged_glove(cache_dir=cache)
emb = build_class_embeddings(classes, kv, dataset='COCOStuffDataset')
emb.save(out)
elapsed = time.perf_counter() - t0
print(f'BUILD {elapsed:.3f} {len(emb)} {emb.dim} {t_import:.3f}')
'''


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--classes',
        default='COCOStuffDataset',
        help="'COCOStuffDataset' (mmseg's 171) or "
        "'coco_stuff_182' (with the 11 unused ids)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for run in ('first (fresh cache)', 'second (cached)'):
            t0 = time.perf_counter()
            res = subprocess.run([
                sys.executable, '-c', CHILD, f'{tmp}/cache', args.classes,
                f'{tmp}/coco.npz'
            ],
                                 capture_output=True,
                                 text=True,
                                 check=True)
            wall = time.perf_counter() - t0
            line = [
                ln for ln in res.stdout.splitlines() if ln.startswith('BUILD')
            ][-1].split()
            print(f'{run:<20} classes={line[2]} dim={line[3]} '
                  f'build={float(line[1]):.2f} s  (imports '
                  f'{float(line[4]):.1f} s, process wall {wall:.1f} s)')


if __name__ == '__main__':
    main()
