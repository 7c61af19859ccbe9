"""Helpers of the commands that train several config rows (``tools/demo.py``
and ``benchmarks/bench_real_camvid.py``): edit a loaded config everywhere,
group rows into processes that train side by side, and share the CPUs
among those processes."""
import os
from typing import Dict, List, Mapping, Optional, Sequence

from mmengine.config import Config


def set_everywhere(node, key: str, value) -> None:
    """Set ``key`` to ``value`` in every dict nested in ``node``.

    Args:
        node (dict | list): A config (``mmengine.Config`` or one of its
            nodes); changed in place. Other values are left alone.
        key (str): The key to set where it exists (e.g. ``'data_root'``
            in a dataset wrapped by another).
        value: Its new value.
    """
    if isinstance(node, (dict, Config)):  # a Config is not a dict
        if key in node:
            node[key] = value
        for child in node.values():
            set_everywhere(child, key, value)
    elif isinstance(node, list):
        for child in node:
            set_everywhere(child, key, value)


def plan_jobs(rows: Sequence[str],
              jobs: int,
              starts_from: Mapping[str, str],
              cost: Optional[Dict[str, float]] = None) -> List[List[str]]:
    """Rows split into at most ``jobs`` groups that can train side by side.

    A row that starts from another row of ``rows`` (its checkpoint) goes
    into that row's group, after it; the chains of rows are spread over the
    groups by their cost, longest first, each to the cheapest group so far.

    Args:
        rows (Sequence[str]): The rows, in an order in which every row comes
            after the row it starts from.
        jobs (int): The most groups (processes), at least 1. With 1 the one
            group is ``rows`` in their order.
        starts_from (Mapping[str, str]): Row -> the row whose checkpoint it
            starts from.
        cost (dict[str, float], optional): Relative training cost of a row;
            1.0 for a row it does not name. Defaults to None (all 1.0).

    Returns:
        list[list[str]]: Non-empty groups, never more than the chains,
        each in ``rows``' order.

    Raises:
        ValueError: If ``jobs`` is below 1.
    """
    if jobs < 1:
        raise ValueError(f'jobs={jobs!r}: expected at least 1')
    if jobs == 1:
        return [list(rows)]
    cost = cost or {}
    chains: List[List[str]] = []
    for row in rows:
        start = starts_from.get(row)
        chain = next((c for c in chains if start in c), None)
        if chain is None:
            chains.append([row])
        else:
            chain.append(row)

    def total(rows_: Sequence[str]) -> float:
        return sum(cost.get(r, 1.0) for r in rows_)

    groups: List[List[str]] = [[] for _ in range(min(jobs, len(chains)))]
    for chain in sorted(chains, key=total, reverse=True):
        min(groups, key=total).extend(chain)
    order = {row: i for i, row in enumerate(rows)}
    return [sorted(g, key=order.get) for g in groups if g]


def cores_share(running: int) -> int:
    """Torch threads for one of ``running`` processes that train side by
    side: the CPUs divided among them, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(1, running))
