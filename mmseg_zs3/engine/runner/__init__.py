"""Training loops."""
from .zs3_feature_cache_train_loop import \
    ZS3FeatureCacheTrainLoop  # noqa: F401
