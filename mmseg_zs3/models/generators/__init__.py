"""Feature generators."""
from .gmmn import GMMNGenerator  # noqa: F401
