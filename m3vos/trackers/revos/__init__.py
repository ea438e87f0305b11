"""ReVOS (the M3-VOS paper's method) on top of our Cutie: the booster, the readout fuser and the
windowed reverse pass. See `docs/revos.md`.

Modules: `readout_fuser` (the learned fuser), `network` (`ReVOSNetwork`), `settings` (alpha, T,
L), `loop` (the ReVOS loop on Cutie's inference core), `tracker` (`revos`). `m3vos dev replay`
for ReVOS references lives in `m3vos.trackers.parity.revos`. Importing this package imports
no torch.
"""
