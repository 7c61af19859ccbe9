"""Save and restore torch's random state, so a resumed run is identical."""
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RNGStateCheckpointHook(Hook):
    """Make ``--resume`` reproduce the losses of an uninterrupted run.

    mmengine re-seeds on resume but does not restore the random state, so the
    dropout masks after a resume differ from those of an uninterrupted run.
    This hook stores torch's CPU (and CUDA) random state in every checkpoint
    and, when training resumes from one (``runner.iter > 0``), restores it
    just before the first resumed iteration runs. Data loading needs nothing:
    mmengine replays the sampler and the pipelines' random draws by advancing
    the dataloader over the iterations already trained.
    """
    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the random state in ``checkpoint['rng_state']``."""
        state = dict(torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the stored random state until training starts."""
        self._pending = checkpoint.get('rng_state')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        """Restore the stored state at the first iteration after a resume."""
        state, self._pending = self._pending, None
        if state is None or runner.iter == 0:
            return  # a plain ``load_from``, or a checkpoint without state
        torch.set_rng_state(state['torch'].cpu())
        if 'cuda' in state and torch.cuda.is_available():
            cuda = state['cuda']
            if len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
