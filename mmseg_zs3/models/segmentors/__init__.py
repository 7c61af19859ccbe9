"""Segmentors."""
from .zs3_encoder_decoder import ZS3EncoderDecoder  # noqa: F401
