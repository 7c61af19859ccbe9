"""mmseg's visualization hook that can show drawings and save them too."""
from typing import Optional

from mmseg.engine.hooks import SegVisualizationHook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class ShowAndSaveVisualizationHook(SegVisualizationHook):
    """:class:`SegVisualizationHook` whose ``show=True`` keeps saving.

    mmseg's hook, given ``show=True``, empties the visualizer's
    ``vis_backends`` (showing is taken to exclude storing), so
    ``tools/test.py --show --show-dir DIR`` showed each drawing and saved
    nothing under ``DIR``. This hook shows each drawing and also passes it to
    the backends, which save it (``DIR/vis_data/vis_image/`` for mmseg's
    ``LocalVisBackend``). With ``show=False`` it is mmseg's hook.

    Args:
        draw (bool): Whether to draw the predictions. Defaults to False.
        interval (int): Draw every ``interval``-th batch. Defaults to 50.
        show (bool): Whether to show each drawing in a window as well.
            Defaults to False.
        wait_time (float): Seconds each shown drawing stays. Defaults to 0.
        backend_args (dict, optional): File backend arguments for reading
            the images. Defaults to None.
    """

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 backend_args: Optional[dict] = None):
        # the parent's show=True would drop the visualizer's backends
        super().__init__(
            draw=draw,
            interval=interval,
            show=False,
            wait_time=wait_time,
            backend_args=backend_args)
        self.show = show
