"""Module extra state stored as a tensor, so that checkpoints and DDP see
only tensors in a state dict.

torch lets a module save any object as its ``_extra_state``. mmengine's
Runner broadcasts every state-dict entry from rank 0 after ``init_weights``
(``Runner._init_model_weights``), which fails on anything but a tensor, so a
dict there breaks every multi-process run. The dict is therefore stored as
its JSON text in a 1-D ``uint8`` tensor: data, never code, and loadable with
``torch.load(weights_only=True)``.
"""
import json
from typing import Any, Dict, Optional

import torch


def encode_extra_state(state: Dict[str, Any]) -> torch.Tensor:
    """A JSON-serialisable dict as a 1-D ``uint8`` tensor of its UTF-8 JSON.

    Args:
        state (dict): Plain data (str, numbers, bools, lists, dicts).

    Returns:
        Tensor: ``uint8`` of shape ``(num_bytes,)``.
    """
    data = json.dumps(state, sort_keys=True).encode('utf-8')
    return torch.tensor(list(data), dtype=torch.uint8)


def decode_extra_state(value: Any,
                       key: str = '_extra_state') -> Optional[Dict[str, Any]]:
    """The dict of :func:`encode_extra_state` (or a plain dict, as saved by
    earlier versions); None for None.

    Args:
        value: The ``_extra_state`` entry of a state dict.
        key (str): Its key, for the error message. Defaults to
            '_extra_state'.

    Returns:
        dict | None: The decoded state.

    Raises:
        TypeError: ``value`` is neither a ``uint8`` JSON tensor of a dict nor
            a dict.
    """
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and \
            value.dim() == 1:
        try:
            state = json.loads(bytes(value.tolist()).decode('utf-8'))
        except (UnicodeDecodeError, ValueError) as err:
            raise TypeError(f'`{key}` of the checkpoint is not the JSON '
                            f'text of a dict ({err})') from None
        if isinstance(state, dict):
            return state
    raise TypeError(
        f'`{key}` of the checkpoint is {type(value).__name__}'
        f'{getattr(value, "dtype", "")}; expected the uint8 JSON tensor '
        'that mmseg_zs3 modules save')
