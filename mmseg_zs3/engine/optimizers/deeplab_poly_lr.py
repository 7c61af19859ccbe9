"""The poly learning-rate decay of the DeepLab code bases."""
from mmengine.optim import PolyLR
from mmseg.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class DeepLabPolyLR(PolyLR):
    """Poly decay ``lr_t = base_lr * (1 - t / T) ** power``, ``T = end -
    begin``: every step of ``[begin, end)`` trains with a positive lr.

    This is the ``LR_Scheduler('poly')`` of the DeepLab PyTorch code that
    ZS3Net's official code is built on, called before every iteration ``t =
    0 .. T - 1`` of ``T = epochs x iterations per epoch``. mmengine's
    :class:`PolyLR` decays over ``T - 1`` steps instead and trains its last
    step at ``eta_min``. With ``by_epoch=True, convert_to_iter_based=True``
    and ``end`` = the number of epochs, ``T`` is the number of iterations of
    the run, whatever the dataset size.

    Args:
        As :class:`mmengine.optim.PolyLR` (``eta_min`` is reached at
        ``end``, one step after training).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # mmengine: end - begin - 1 (eta_min at the last step)
        self.total_iters = self.end - self.begin
