# Compare zero-shot results in one table (markdown, CSV, bar chart), as
# mmseg's tools/analysis_tools do for logs; the logic is in
# mmseg_zs3.apis.compare_zero_shot.
import argparse
import os.path as osp

from mmseg_zs3.apis.checks import check_work_dir
from mmseg_zs3.apis.cli_types import HelpFormatter, non_negative_int
from mmseg_zs3.apis.compare_zero_shot import (format_csv, format_markdown,
                                              load_results, plot_bars,
                                              write_text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='One table of the zero-shot results of several runs '
        '(rows: models; columns: mIoU seen / unseen, hIoU, pixel acc, '
        'mAcc seen / unseen) on one split, from their work dirs.',
        formatter_class=HelpFormatter)
    parser.add_argument(
        'results',
        nargs='+',
        help='work dirs (the newest run with results: its test metrics '
        'from tools/test.py --work-dir, else its last validation), run '
        'folders <timestamp>/, or metrics files (<timestamp>.json, '
        'vis_data/scalars.json)')
    parser.add_argument(
        '--names', nargs='+', help='row names (default: work dir names)')
    parser.add_argument(
        '--reference',
        nargs='+',
        help='rows that are upper bounds, left out of the best marks '
        '(default: rows whose name or config starts with "oracle")')
    parser.add_argument('--md', help='write the markdown table here')
    parser.add_argument('--csv', help='write the CSV table here')
    parser.add_argument(
        '--plot', help='write a bar chart (seen / unseen / hIoU) PNG here')
    parser.add_argument(
        '--decimals',
        type=non_negative_int,
        default=1,
        help='decimals shown (and compared for the best marks)')
    args = parser.parse_args(argv)
    for flag in ('md', 'csv', 'plot'):
        out = getattr(args, flag)
        if out is None:
            continue
        if not out.strip() or osp.isdir(out):
            parser.error(f'--{flag} {out!r}: expected a file path')
        try:  # before any result is read
            check_work_dir(osp.dirname(osp.abspath(out)), f'--{flag}')
        except (OSError, ValueError) as e:
            parser.error(str(e))
    return args


def main(argv=None):
    args = parse_args(argv)
    results = load_results(args.results, args.names, args.reference)
    markdown = format_markdown(results, args.decimals)
    print(markdown, end='')
    if args.md:
        write_text(args.md, markdown)
    if args.csv:
        write_text(args.csv, format_csv(results, args.decimals))
    if args.plot:
        plot_bars(results, args.plot)
    return results


if __name__ == '__main__':
    main()
