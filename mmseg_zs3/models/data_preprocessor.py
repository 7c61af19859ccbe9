"""The data preprocessor of ZS3Net's stage 2: image and pixel batches."""
from typing import Any

from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from torch import Tensor


def is_pixel_batch(inputs: Any) -> bool:
    """Whether ``inputs`` are pixel features ``[N, C]`` rather than images.

    A pixel batch is ``dict(inputs=[N, C] features, data_samples=[N]
    labels)`` (see ``ZS3EncoderDecoder.extract_pixels``); an image batch has
    a list of ``[3, H, W]`` images, or a ``[B, 3, H, W]`` tensor.

    Args:
        inputs: The ``inputs`` of a batch.

    Returns:
        bool: True for a 2-D tensor.
    """
    return isinstance(inputs, Tensor) and inputs.dim() == 2


@MODELS.register_module()
class ZS3DataPreProcessor(SegDataPreProcessor):
    """:class:`SegDataPreProcessor` for image batches and pixel batches.

    ZS3Net's stage 2 trains on image batches or on pixel batches
    ``dict(inputs=[N, C] features, data_samples=[N] labels)`` made once by
    ``ZS3EncoderDecoder.extract_pixels`` (whose frozen features are already
    normalised, so a pixel batch is only moved to the model's device). Image
    batches are processed exactly as by :class:`SegDataPreProcessor`; the
    arguments are its.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Move a pixel batch to the device; preprocess an image batch.

        Args:
            data (dict): ``inputs`` and ``data_samples`` of a batch.
            training (bool): Whether it is a training batch.

        Returns:
            dict: ``inputs`` and ``data_samples``, ready for the model.
        """
        if isinstance(data, dict) and is_pixel_batch(data.get('inputs')):
            return self.cast_data(data)
        return super().forward(data, training)
