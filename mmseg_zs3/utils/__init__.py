"""Helpers shared by ``apis``, ``engine``, ``datasets`` and ``models``."""
from .checkpoint_file import (CheckpointFileError, checkpoint_file_problem,
                              checkpoint_files)

__all__ = [
    'CheckpointFileError', 'checkpoint_file_problem', 'checkpoint_files'
]
