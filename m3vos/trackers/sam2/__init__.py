"""SAM 2 / SAM 2.1 video trackers (`sam2.1-tiny` ... `sam2-large`) through `transformers`.

`variants` is the torch-free table of the eight released models; `model` builds them with
`transformers.Sam2VideoModel`; `checkpoint` reads Meta's `.pt` files (and Hugging Face
`.safetensors`) without running pickled code; `frames` prepares frames and masks and turns
logits into id maps; `tracker` puts it behind the `Tracker` interface. See docs/sam2.md.
"""
