"""mmseg's inference API, with the plugin's fixes and registrations first.

On the stock CPU stack (mmcv-lite), ``from mmseg.apis import init_model``
fails on ``mmcv._ext`` unless :mod:`mmseg_zs3` was imported before it (its
:mod:`~mmseg_zs3.compat` fixes make ``mmcv.ops`` import lazily), and a ZS3
config only builds once ``mmseg_zs3`` has registered its components. This
module lives inside ``mmseg_zs3``, so importing it from here always works,
in any order::

    from mmseg_zs3.apis import inference_model, init_model

    model = init_model(config, checkpoint, device='cpu')
    result = inference_model(model, 'image.png')  # SegDataSample

These are mmseg's own functions and class, unchanged (one implementation,
not a copy): :func:`init_model`, :func:`inference_model`,
:func:`show_result_pyplot` and :class:`MMSegInferencer`. ZS3Net checkpoints
hold the class embeddings and class names, so neither needs the training
embedding file.
"""
from mmseg.apis import (MMSegInferencer, inference_model, init_model,
                        show_result_pyplot)

__all__ = [
    'MMSegInferencer', 'inference_model', 'init_model', 'show_result_pyplot'
]
