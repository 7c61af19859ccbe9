"""Progress that stays readable in a terminal and in a log file.

mmengine's :class:`~mmengine.utils.ProgressBar` redraws one line with
carriage returns: in a terminal that is a bar, but in a log file or a CI
console (stdout redirected) every redraw is appended to one line of
thousands of characters. :class:`Progress` uses mmengine's bar when stdout is
a terminal and otherwise logs a short line at every quarter of the work.
"""
import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

from mmengine.logging import print_log
from mmengine.utils import ProgressBar

T = TypeVar('T')


class Progress:
    """A progress report of ``total`` steps.

    Args:
        total (int): Number of steps.
        description (str): What is counted, for the log lines (e.g.
            ``'ZS3 feature cache'``). Defaults to 'progress'.
        interactive (bool, optional): Draw mmengine's bar (True) or log
            quarter lines (False). Defaults to None: whether stdout is a
            terminal.
    """

    def __init__(self,
                 total: int,
                 description: str = 'progress',
                 interactive: Optional[bool] = None):
        if interactive is None:
            interactive = sys.stdout.isatty()
        self.total = int(total)
        self.description = description
        self.done = 0
        self._start = time.perf_counter()
        self._next_quarter = 1
        self._file = sys.stdout
        self._bar = ProgressBar(self.total, file=self._file) \
            if interactive else None

    def update(self, num: int = 1) -> None:
        """Count ``num`` more steps done."""
        self.done += num
        if self._bar is not None:
            self._bar.update(num)
            if self.done >= self.total:
                self._file.write('\n')
                self._file.flush()
            return
        passed = False
        while self.total > 0 and self._next_quarter <= 4 and \
                self.done * 4 >= self._next_quarter * self.total:
            self._next_quarter += 1
            passed = True
        if passed:  # one line per update, however many quarters it passed
            elapsed = time.perf_counter() - self._start
            print_log(
                f'{self.description}: {self.done}/{self.total} '
                f'({elapsed:.1f} s)',
                logger='current')


def track(items: Iterable[T],
          total: Optional[int] = None,
          description: str = 'progress',
          interactive: Optional[bool] = None) -> Iterator[T]:
    """Yield ``items`` while reporting progress (see :class:`Progress`).

    Args:
        items (Iterable): The work items.
        total (int, optional): Their number. Defaults to ``len(items)``.
        description (str): See :class:`Progress`. Defaults to 'progress'.
        interactive (bool, optional): See :class:`Progress`.

    Yields:
        The items of ``items``, in order.
    """
    progress = Progress(
        len(items) if total is None else total, description, interactive)
    for item in items:
        yield item
        progress.update()
