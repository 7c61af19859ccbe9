"""Registered data transforms; importing this module registers them."""
from .check_seg_map import CheckSegMap  # noqa: F401
from .load_pseudo_labels import LoadPseudoLabels  # noqa: F401
from .map_unseen_to_ignore import MapUnseenToIgnore  # noqa: F401
from .random_gaussian_blur import RandomGaussianBlur  # noqa: F401
from .score_at_resized_shape import ScoreAtResizedShape  # noqa: F401
