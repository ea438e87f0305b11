"""Everything about the M3-VOS data on disk: layouts, masks, metadata, download, verify, synth."""
