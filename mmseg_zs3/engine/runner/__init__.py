"""Training loops."""
from .zs3_feature_cache_train_loop import (  # noqa: F401
    ZS3FeatureCacheTrainLoop, resume_from_work_dir)
