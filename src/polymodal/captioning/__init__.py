"""Captioning: text from an image (or an audio clip), learned on top of frozen pretrained features.

    input tokens (image regions / audio frames, cached) -> projection + positions -> decoder
    (GRU with additive attention, or a transformer) -> greedy or beam search -> caption

`Captioner` is the facade (`captioner.py`); decoders sit behind a small registry (`decoder.py`).
"""
