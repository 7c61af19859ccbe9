"""Data preprocessor that also passes pixel-feature batches through."""
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS


@MODELS.register_module()
class ZS3DataPreProcessor(SegDataPreProcessor):
    """:class:`SegDataPreProcessor` that lets pixel batches through.

    ZS3Net's stage 2 can train from cached pixel features (see
    ``ZS3FeatureCacheLoop``): such a batch is
    ``dict(inputs=features [N, C], data_samples=None, pixel_labels=[N])`` and
    is only moved to the model's device. Image batches are processed exactly
    as by :class:`SegDataPreProcessor`.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        if isinstance(data, dict) and 'pixel_labels' in data:
            return self.cast_data(data)
        return super().forward(data, training)
