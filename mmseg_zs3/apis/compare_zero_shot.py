"""One table of zero-shot results: the logic of
``tools/analysis_tools/compare_zero_shot.py``.

Reads what mmengine's Runner writes into a work dir when a config evaluates
with ``ZeroShotIoUMetric``:

- ``WORK_DIR/<timestamp>/<timestamp>.json``: the test metrics of
  ``tools/test.py CONFIG CHECKPOINT --work-dir WORK_DIR`` (or of
  ``Runner.test()``), one JSON object;
- ``WORK_DIR/<timestamp>/vis_data/scalars.json``: the scalars of a training
  run, one JSON object per line; the validation lines carry the metrics;
- ``WORK_DIR/<timestamp>/vis_data/config.py``: the config of the run, from
  which the split and the dataset's classes are read (as data: the file is
  parsed, never executed).

A work dir gives the newest run that has results (its test metrics, else its
last validation). The rows must share one split (the same classes and the
same unseen classes).
"""
import ast
import csv
import io
import json
import math
import os
import os.path as osp
import re
import textwrap
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mmseg_zs3.fileio import atomic_open
from mmseg_zs3.splits import ZeroShotSplit, build_split

#: (metric key of ZeroShotIoUMetric, column title), in table order
COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('mIoU_seen', 'mIoU seen'),
    ('mIoU_unseen', 'mIoU unseen'),
    ('hIoU', 'hIoU'),
    ('aAcc', 'pixel acc'),
    ('mAcc_seen', 'mAcc seen'),
    ('mAcc_unseen', 'mAcc unseen'),
)
#: the bar chart's metrics
PLOTTED = ('mIoU_seen', 'mIoU_unseen', 'hIoU')
RUN_FOLDER = re.compile(r'^\d{8}_\d{6}$')
EVALUATOR_KEYS = dict(test='test_evaluator', val='val_evaluator')
LOADER_KEYS = dict(test='test_dataloader', val='val_dataloader')


@dataclass
class ZeroShotResult:
    """The metrics of one model, where they come from, and their split.

    Args:
        name (str): The row name.
        metrics (dict[str, float]): ``ZeroShotIoUMetric``'s metrics, in %.
        source (str): The file the metrics were read from.
        kind (str): ``'test'``, or ``'val @ <step>'``.
        split (ZeroShotSplit): The split they were computed on.
        config_name (str): The config file name of the work dir (``''``
            when unknown).
        reference (bool): An upper bound (e.g. the supervised oracle), not
            a competitor: left out of the best-value marks.
    """
    name: str
    metrics: Dict[str, float]
    source: str
    kind: str
    split: ZeroShotSplit
    config_name: str = ''
    reference: bool = False


# ---------------------------------------------------------------------------
# reading configs as data
def _literal(node: ast.AST, path: str):
    """The value of a config expression made of plain data only.

    Raises:
        ValueError: Naming the file and line of anything else (a name, a
            call other than ``dict(...)``, an operator).
    """
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        values = [_literal(e, path) for e in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {
            _literal(k, path): _literal(v, path)
            for k, v in zip(node.keys, node.values)
        }
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == 'dict' and not node.args and \
            all(k.arg for k in node.keywords):
        return {k.arg: _literal(k.value, path) for k in node.keywords}
    signs = (ast.USub, ast.UAdd)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, signs) and \
            isinstance(node.operand, ast.Constant) and \
            isinstance(node.operand.value, (int, float)):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    raise ValueError(
        f'{path}, line {getattr(node, "lineno", "?")}: '
        f'{ast.unparse(node)[:80]!r} is not plain data (a dumped config '
        'holds dicts, lists and constants only); the file is read as data, '
        'never run')


def read_config_values(path: str, keys: Sequence[str]) -> dict:
    """The values of the top-level ``keys`` of a dumped mmengine config.

    Only those assignments are evaluated, as plain data (see
    :func:`_literal`); the file is never executed.

    Args:
        path (str): A config as mmengine dumps it (``vis_data/config.py``).
        keys (Sequence[str]): The variables to read.

    Returns:
        dict: The keys that the file assigns, with their values.

    Raises:
        ValueError: The file is no Python, or a wanted value is not plain
            data (naming the file and line).
    """
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as e:
        raise ValueError(f'{path} is not a config file (line {e.lineno}: '
                         f'{e.msg})') from None
    values = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], ast.Name) and \
                stmt.targets[0].id in keys:
            values[stmt.targets[0].id] = _literal(stmt.value, path)
    return values


def _dataset_classes(dataset, path: str, where: str) -> List[str]:
    """The class names of a dataset config (``metainfo.classes`` or the
    ``METAINFO`` of its type), looking through wrappers
    (``SeenOnlyDataset``, ``ConcatDataset``...).

    Raises:
        ValueError: Naming the config file when no class list is found.
    """
    from mmseg_zs3.embeddings import resolve_class_names
    if isinstance(dataset, dict):
        classes = (dataset.get('metainfo') or {}).get('classes')
        if classes:
            return list(classes)
        inner = dataset.get('dataset') or (dataset.get('datasets')
                                           or [None])[0]
        if inner is not None:
            return _dataset_classes(inner, path, where)
        if isinstance(dataset.get('type'), str):
            try:
                return resolve_class_names(dataset['type'])
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f'{path}: the classes of {where} (dataset type '
                    f'{dataset["type"]!r}) are unknown: {e}') from None
    raise ValueError(f'{path}: {where} names no dataset type or '
                     'metainfo.classes; the split cannot be resolved')


def split_of_run(config_path: str, kind: str) -> ZeroShotSplit:
    """The split that a run evaluated with, read from its dumped config.

    Args:
        config_path (str): The run's ``vis_data/config.py``.
        kind (str): ``'test'`` or ``'val'``: which evaluator and dataloader.

    Returns:
        ZeroShotSplit: Resolved against the dataset's classes.

    Raises:
        ValueError: The evaluator is not a ``ZeroShotIoUMetric`` (its results
            have no seen / unseen numbers), or the config lacks it.
    """
    ev_key, loader_key = EVALUATOR_KEYS[kind], LOADER_KEYS[kind]
    values = read_config_values(config_path, (ev_key, loader_key))
    evaluator = values.get(ev_key)
    evaluators = evaluator if isinstance(evaluator, list) else [evaluator]
    zero_shot = [
        e for e in evaluators
        if isinstance(e, dict) and e.get('type') in ('ZeroShotIoUMetric',
                                                     'mmseg.ZeroShotIoUMetric')
    ]
    if not zero_shot:
        types = [
            e.get('type') if isinstance(e, dict) else e for e in evaluators
        ]
        raise ValueError(
            f'{config_path}: the run was evaluated with {ev_key} of type(s) '
            f'{types}, not ZeroShotIoUMetric, so it has no seen / unseen / '
            'hIoU numbers. Test its checkpoint with a config whose '
            f"{ev_key} is dict(type='ZeroShotIoUMetric', split=...) (e.g. "
            'the oracle_* configs of configs/zs3/)')
    loader = values.get(loader_key)
    if not isinstance(loader, dict):
        raise ValueError(f'{config_path}: no {loader_key}; the dataset '
                         'classes of the split are unknown')
    classes = _dataset_classes(
        loader.get('dataset'), config_path, f'{loader_key}.dataset')
    try:
        return build_split(zero_shot[0].get('split'), classes)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{config_path}: the split of {ev_key} cannot be '
                         f'resolved: {e}') from None


# ---------------------------------------------------------------------------
# finding results
def _read_json(path: str):
    """A JSON object, or the list of objects of a JSON-lines file.

    Raises:
        ValueError: Naming the file and the line that is not JSON.
    """
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ValueError(f'{path} is not text (not UTF-8); expected the '
                         'JSON metrics of tools/test.py or a scalars.json') \
            from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}, line {number}: not JSON ({e.msg}); '
                             'expected the metrics of tools/test.py or '
                             'the scalars.json of a training run') from None
    return records


def _has_metrics(record) -> bool:
    return isinstance(record, dict) and 'mIoU_seen' in record


def _metrics_of_file(path: str) -> Optional[Tuple[dict, str]]:
    """``(metrics, kind)`` of a test-metrics file or the last validation of
    a scalars file; None when it holds none."""
    data = _read_json(path)
    if _has_metrics(data):
        return data, 'test'
    if isinstance(data, list):
        vals = [r for r in data if _has_metrics(r)]
        if vals:
            return vals[-1], f'val @ {vals[-1].get("step", "?")}'
    return None


def _run_files(run: str) -> List[str]:
    """The files of a run folder that may hold metrics, preferred first."""
    name = osp.basename(osp.normpath(run))
    return [
        osp.join(run, f'{name}.json'),
        osp.join(run, 'vis_data', 'scalars.json')
    ]


def _config_of(source: str) -> Tuple[str, str]:
    """The dumped config of the run that wrote ``source``, and the config
    file name found in its work dir (``''`` if not exactly one)."""
    folder = osp.dirname(osp.abspath(source))
    run = osp.dirname(folder) if osp.basename(folder) == 'vis_data' \
        else folder
    config = osp.join(run, 'vis_data', 'config.py')
    work_dir = osp.dirname(run)
    names = sorted(
        f for f in os.listdir(work_dir)
        if f.endswith('.py') and osp.isfile(osp.join(work_dir, f))) \
        if osp.isdir(work_dir) else []
    return config, names[0] if len(names) == 1 else ''


def find_result(path: str) -> Tuple[dict, str, str]:
    """The metrics in a work dir, a run folder or a metrics file.

    Args:
        path (str): A work dir (the newest ``<timestamp>`` run with results
            is used), a run folder, a ``<timestamp>.json`` of test metrics or
            a ``scalars.json``.

    Returns:
        tuple[dict, str, str]: The metrics, the file they come from, and
        ``'test'`` or ``'val @ <step>'``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: It holds no zero-shot metrics (naming what was searched).
    """
    if not osp.exists(path):
        raise FileNotFoundError(
            f'{path} does not exist; expected a work dir or a metrics JSON '
            'file')
    if osp.isfile(path):
        found = _metrics_of_file(path)
        if found is None:
            raise ValueError(
                f'{path} holds no zero-shot metrics (no mIoU_seen): '
                'expected the <timestamp>.json of tools/test.py --work-dir '
                'or a scalars.json with validation lines, from a config '
                'evaluated with ZeroShotIoUMetric')
        return found[0], path, found[1]
    runs = [path] if RUN_FOLDER.match(osp.basename(osp.normpath(path))) \
        else sorted((osp.join(path, d) for d in os.listdir(path)
                     if RUN_FOLDER.match(d)
                     and osp.isdir(osp.join(path, d))),
                    reverse=True)
    for run in runs:
        for candidate in _run_files(run):
            if osp.isfile(candidate):
                found = _metrics_of_file(candidate)
                if found is not None:
                    return found[0], candidate, found[1]
    searched = f'{len(runs)} run folder(s) <timestamp>/' if runs else \
        'no <timestamp>/ run folder'
    raise ValueError(
        f'{path} has no evaluation results ({searched}; looked for '
        '<timestamp>/<timestamp>.json with test metrics and validation lines '
        'in <timestamp>/vis_data/scalars.json). Test a checkpoint into it: '
        f'python tools/test.py CONFIG CHECKPOINT --work-dir {path}')


def default_name(path: str) -> str:
    """The row name of an input: its work dir's folder name."""
    path = osp.abspath(path)
    if osp.isfile(path):
        path = osp.dirname(path)
        if osp.basename(path) == 'vis_data':
            path = osp.dirname(path)
    if RUN_FOLDER.match(osp.basename(path)):
        path = osp.dirname(path)
    return osp.basename(path)


def load_results(
        paths: Sequence[str],
        names: Optional[Sequence[str]] = None,
        references: Optional[Sequence[str]] = None) -> List[ZeroShotResult]:
    """Read the results of several runs and check that they share a split.

    Args:
        paths (Sequence[str]): Work dirs, run folders or metrics files.
        names (Sequence[str], optional): Row names, one per path. Defaults to
            the work dirs' folder names.
        references (Sequence[str], optional): Names of the rows that are
            upper bounds (left out of the best marks). Defaults to the rows
            whose name or config file name starts with ``oracle``.

    Returns:
        list[ZeroShotResult]: In the order of ``paths``.

    Raises:
        ValueError: No path, a names count that differs from the paths', a
            name given twice, an unknown reference name, a result without the
            zero-shot metrics, or results on different splits (each named).
        FileNotFoundError: A path or the run's dumped config is missing.
    """
    if not paths:
        raise ValueError('no results given; expected work dirs or metrics '
                         'JSON files')
    if names is not None and len(names) != len(paths):
        raise ValueError(f'{len(names)} names {list(names)} for '
                         f'{len(paths)} results; give one name per result')
    names = list(names) if names is not None else [
        default_name(p) for p in paths
    ]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f'the row name(s) {repeated} are given to more than one result '
            f'({list(paths)}); name the rows with --names')
    if references is not None:
        unknown = [r for r in references if r not in names]
        if unknown:
            raise ValueError(f'--reference {unknown}: no such row; the rows '
                             f'are {names}')
    results = []
    for path, name in zip(paths, names):
        metrics, source, kind = find_result(path)
        config, config_name = _config_of(source)
        if not osp.isfile(config):
            raise FileNotFoundError(
                f'{source}: the config of its run ({config}) is missing; '
                'the split cannot be known. Keep the run folder whole')
        missing = [k for k, _ in COLUMNS if k not in metrics]
        if missing:
            raise ValueError(
                f'{source} lacks {missing}: its split has no unseen class, '
                'or it was written before ZeroShotIoUMetric reported them')
        not_numbers = {
            k: metrics[k]
            for k, _ in COLUMNS if isinstance(metrics[k], bool)
            or not isinstance(metrics[k], (int, float))
        }
        if not_numbers:
            raise ValueError(f'{source}: {not_numbers} are not numbers')
        split = split_of_run(config, kind.split()[0])
        reference = name in references if references is not None else \
            name.startswith('oracle') or config_name.startswith('oracle')
        results.append(
            ZeroShotResult(
                name=name,
                metrics={
                    k: float(metrics[k])
                    for k, _ in COLUMNS
                },
                source=source,
                kind=kind,
                split=split,
                config_name=config_name,
                reference=reference))
    check_same_split(results)
    return results


def describe_split(split: ZeroShotSplit) -> str:
    """E.g. ``"zs3_voc_k2: 2 of 21 classes unseen (cow, motorbike)"``."""
    return (f'{split.name}: {len(split.unseen_names)} of {split.num_classes} '
            f'classes unseen ({", ".join(split.unseen_names)})')


def check_same_split(results: Sequence[ZeroShotResult]) -> None:
    """Refuse results computed on different splits.

    Raises:
        ValueError: Listing each split with its rows.
    """
    groups: Dict[tuple, List[str]] = {}
    splits = {}
    for r in results:
        key = (r.split.classes, tuple(sorted(r.split.unseen_names)))
        groups.setdefault(key, []).append(r.name)
        splits[key] = r.split
    if len(groups) > 1:
        lines = '; '.join(f'{rows}: {describe_split(splits[key])}'
                          for key, rows in groups.items())
        raise ValueError('the results are on different splits, which one '
                         f'table cannot compare: {lines}')


# ---------------------------------------------------------------------------
# the table
def best_rows(results: Sequence[ZeroShotResult],
              decimals: int = 1) -> Dict[str, List[str]]:
    """For each column, the rows with the best value (ties all marked).

    Values are compared as displayed (rounded to ``decimals``); reference
    rows are left out unless every row is one; NaN is never best.

    Returns:
        dict[str, list[str]]: Metric key to the best rows' names.
    """
    pool = [r for r in results if not r.reference] or list(results)
    best = {}
    for key, _ in COLUMNS:
        values = {
            r.name: round(r.metrics[key], decimals)
            for r in pool if not math.isnan(r.metrics[key])
        }
        top = max(values.values()) if values else None
        best[key] = [n for n, v in values.items() if v == top]
    return best


def _number(value: float, decimals: int) -> str:
    return 'n/a' if math.isnan(value) else f'{value:.{decimals}f}'


def format_markdown(results: Sequence[ZeroShotResult],
                    decimals: int = 1) -> str:
    """The table as markdown: the split and its unseen classes above it,
    the best value of each column in bold, the sources below it."""
    split = results[0].split
    best = best_rows(results, decimals)
    refs = [r.name for r in results if r.reference]
    lines = [
        f'Split {describe_split(split)}.',
        '',
        'ZeroShotIoUMetric, in %; the best value of each column in bold' +
        (f' (reference rows, trained with unseen labels, left out: '
         f'{", ".join(refs)})' if refs and len(refs) < len(results) else '') +
        '.',
        '',
        '| model | ' + ' | '.join(t for _, t in COLUMNS) + ' |',
        '|---' * (len(COLUMNS) + 1) + '|',
    ]
    for r in results:
        cells = []
        for key, _ in COLUMNS:
            text = _number(r.metrics[key], decimals)
            cells.append(f'**{text}**' if r.name in best[key] else text)
        lines.append(f'| {r.name} | ' + ' | '.join(cells) + ' |')
    lines += [''] + [f'- {r.name}: {r.kind}, {r.source}' for r in results]
    return '\n'.join(lines) + '\n'


def format_csv(results: Sequence[ZeroShotResult], decimals: int = 1) -> str:
    """The table as CSV: one row per model with the metrics (as computed),
    ``reference``, ``best`` (the columns where it is best, ``;``-separated),
    the split, its unseen classes, and the source."""
    best = best_rows(results, decimals)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(
        ['model'] + [k for k, _ in COLUMNS] +
        ['reference', 'best', 'split', 'unseen_classes', 'kind', 'source'])
    for r in results:
        writer.writerow([r.name] + [r.metrics[k] for k, _ in COLUMNS] + [
            r.reference, ';'.join(k for k, _ in COLUMNS if r.name in best[k]),
            r.split.name, ';'.join(r.split.unseen_names), r.kind, r.source
        ])
    return out.getvalue()


def write_text(path: str, text: str) -> None:
    """Write ``text`` atomically, saying when a file is replaced."""
    if osp.exists(path):
        print(f'replacing the existing {path}')
    with atomic_open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def plot_bars(results: Sequence[ZeroShotResult], path: str) -> None:
    """A bar chart of seen / unseen mIoU and hIoU per model, as PNG.

    Args:
        results (Sequence[ZeroShotResult]): The rows.
        path (str): The PNG file (written atomically).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    titles = dict(COLUMNS)
    x = np.arange(len(results))
    width = 0.8 / len(PLOTTED)
    fig, ax = plt.subplots(figsize=(max(4., 1.6 * len(results) + 1.5), 3.6))
    for i, key in enumerate(PLOTTED):
        values = [r.metrics[key] for r in results]
        bars = ax.bar(
            x + (i - (len(PLOTTED) - 1) / 2) * width,
            np.nan_to_num(values),
            width,
            label=titles[key])
        ax.bar_label(bars, [_number(v, 1) for v in values], fontsize=7)
    ax.set_xticks(x, [r.name for r in results])
    ax.set_ylabel('%')
    ax.set_ylim(0, 105)
    split = results[0].split
    title = f'{split.name}: unseen {", ".join(split.unseen_names)}'
    ax.set_title('\n'.join(textwrap.wrap(title, 70)[:3]), fontsize=8)
    ax.legend(fontsize=8, ncol=len(PLOTTED), loc='upper left')
    fig.tight_layout()
    if osp.exists(path):
        print(f'replacing the existing {path}')
    with atomic_open(path, 'wb') as f:
        fig.savefig(f, format='png', dpi=120)
    plt.close(fig)
