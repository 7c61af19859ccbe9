"""ZS3Net's stage-1 Gaussian blur augmentation for 2-D images."""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """Blur the image with a Gaussian of random width, with probability
    ``prob``; the labels are untouched.

    The augmentation of ZS3Net's stage 1 (after flip and scale-crop): the
    official code, built on a DeepLab PyTorch code base, applies PIL's
    ``GaussianBlur(radius=random.random())`` with probability 0.5; PIL's
    radius is the standard deviation, so the defaults are ``prob=0.5`` and
    ``sigma_range=(0, 1)``. mmseg's ``BioMedicalGaussianBlur`` is for
    ``(N, Z, Y, X)`` volumes, not ``(H, W, C)`` images.

    The kernel reaches 3 standard deviations (``uint8`` images; 4 for
    floating-point ones, OpenCV's rule), the border is reflected without
    repeating the edge pixel, the data type is kept.

    Required Keys:

    - img

    Modified Keys:

    - img

    Args:
        prob (float): Probability of blurring an image. Defaults to 0.5.
        sigma_range (Sequence[float]): ``(low, high)``: the standard deviation
            (pixels) is drawn uniformly from it. Defaults to (0., 1.).
    """

    def __init__(self,
                 prob: float = 0.5,
                 sigma_range: Sequence[float] = (0., 1.)) -> None:
        super().__init__()
        if not 0. <= prob <= 1.:
            raise ValueError(f'prob={prob!r}; expected a probability in '
                             '[0, 1]')
        if (len(sigma_range) != 2
                or not 0. <= float(sigma_range[0]) <= float(sigma_range[1])):
            raise ValueError(f'sigma_range={tuple(sigma_range)!r}; expected '
                             '(low, high) with 0 <= low <= high')
        self.prob = float(prob)
        self.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))

    @cache_randomness
    def _sample(self) -> Tuple[bool, float]:
        apply = np.random.rand() < self.prob
        sigma = np.random.uniform(*self.sigma_range)
        return bool(apply), float(sigma)

    def transform(self, results: dict) -> dict:
        apply, sigma = self._sample()
        if apply and sigma > 0:
            results['img'] = cv2.GaussianBlur(
                results['img'], (0, 0),
                sigmaX=sigma,
                sigmaY=sigma,
                borderType=cv2.BORDER_REFLECT_101)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'sigma_range={self.sigma_range})')
