"""The ReVOS network: Cutie-base plus the learned readout fuser, with the booster's rate.

Its state_dict is Cutie-base's followed by the 16 `readout_fuser.*` tensors, in the official
order, so the official checkpoint (`mega_v4_main_training_72800.pth`) loads with strict=True
and a plain Cutie checkpoint fails naming the missing fuser keys.
"""

from __future__ import annotations

import torch

from m3vos.trackers.cutie.config import CutieModelConfig
from m3vos.trackers.cutie.network import CutieNetwork
from m3vos.trackers.revos.readout_fuser import ReadoutFuser

#: the official `model.boost_rate` (cutie/config/model/base.yaml of Cutie_ReVOS)
DEFAULT_BOOST_RATE = 2.0


class ReVOSNetwork(CutieNetwork):
    """Cutie (base by default) + `readout_fuser`; `boost_rate` is the booster's alpha."""

    def __init__(self, cfg: CutieModelConfig | None = None, *,
                 boost_rate: float = DEFAULT_BOOST_RATE) -> None:
        super().__init__(cfg or CutieModelConfig.base())
        self.boost_rate = float(boost_rate)
        # registered last: the fuser keys follow all Cutie keys, as in the official state_dict
        self.readout_fuser = ReadoutFuser(self.value_dim)
        self.eval()

    def fuse_readouts(self, reverse_readout: torch.Tensor,
                      forward_readout: torch.Tensor | None) -> torch.Tensor:
        """The reverse step's readout, fused with the frame's forward readout when there is one
        of the same shape (none on the annotated frame; another shape once an object was
        added in between), as the official reverse step does."""
        if forward_readout is None or forward_readout.shape != reverse_readout.shape:
            return reverse_readout
        return self.readout_fuser(reverse_readout, forward_readout)
