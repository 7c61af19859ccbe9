"""Training loops."""
from .zs3_feature_cache_loop import ZS3FeatureCacheLoop  # noqa: F401
