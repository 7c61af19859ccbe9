"""argparse types that refuse a bad number when the command line is read.

``type=int`` accepts ``--stage1-iters 0`` or ``--num-workers -1``, which then
fail minutes later inside mmengine or torch. These types make argparse exit
at once with ``argument --flag: invalid value -1: expected ...``;
:class:`CfgOptionsAction` does the same for a ``--cfg-options`` item that is
not ``KEY=VALUE``; :class:`HelpFormatter` is the ``--help`` of every tool.
"""
import argparse

from mmengine.config import DictAction


def _number(text: str, kind, minimum, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'invalid value {text!r}: expected {what}') from None
    if value != value or value < minimum:  # value != value: NaN
        raise argparse.ArgumentTypeError(
            f'invalid value {text}: expected {what}')
    return value


def positive_int(text: str) -> int:
    """An integer >= 1.

    Args:
        text (str): The command-line value.

    Returns:
        int: The value.

    Raises:
        argparse.ArgumentTypeError: If it is not an integer >= 1.
    """
    return _number(text, int, 1, 'an integer >= 1')


def non_negative_int(text: str) -> int:
    """An integer >= 0.

    Args:
        text (str): The command-line value.

    Returns:
        int: The value.

    Raises:
        argparse.ArgumentTypeError: If it is not an integer >= 0.
    """
    return _number(text, int, 0, 'an integer >= 0')


def non_negative_float(text: str) -> float:
    """A finite number >= 0.

    Args:
        text (str): The command-line value.

    Returns:
        float: The value.

    Raises:
        argparse.ArgumentTypeError: If it is not a finite number >= 0.
    """
    value = _number(text, float, 0., 'a number >= 0')
    if value == float('inf'):
        raise argparse.ArgumentTypeError(
            f'invalid value {text}: expected a finite number >= 0')
    return value


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` for ``--cfg-options``, with an argparse
    error naming an item that is not ``KEY=VALUE`` (mmengine raises
    ``ValueError: not enough values to unpack``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = values if isinstance(values, (list, tuple)) else [values]
        for item in items:
            if '=' not in item or not item.split('=', 1)[0].strip():
                raise argparse.ArgumentError(
                    self, f'invalid value {item!r}: expected KEY=VALUE, '
                    'e.g. train_cfg.max_iters=100')
        super().__call__(parser, namespace, values, option_string)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """``--help`` with every option's default and the description (its
    examples) kept as written. An option whose default is None or that is
    required shows its help alone: its help says what happens without it."""

    def _get_help_string(self, action):
        if action.default is None or action.required:
            return action.help
        return super()._get_help_string(action)
