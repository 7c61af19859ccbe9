"""The CPU demo (`make demo`): ZS3Net end to end on generated shapes."""
import argparse

from mmseg_zs3.apis.demo import run_demo


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/zs3_shapes')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=2400)
    parser.add_argument('--num-val', type=int, default=300)
    parser.add_argument('--num-calib', type=int, default=150)
    parser.add_argument('--image-size', type=int, default=64)
    parser.add_argument('--stage1-iters', type=int, default=1200)
    parser.add_argument('--stage2-epochs', type=int, default=10)
    parser.add_argument('--num-workers', type=int, default=2)
    return parser.parse_args()


def main():
    args = parse_args()
    run_demo(
        work_dir=args.work_dir,
        data_root=args.data_root,
        seed=args.seed,
        num_train=args.num_train,
        num_val=args.num_val,
        num_calib=args.num_calib,
        image_size=args.image_size,
        stage1_iters=args.stage1_iters,
        stage2_epochs=args.stage2_epochs,
        num_workers=args.num_workers)


if __name__ == '__main__':
    main()
