"""Typed values: every writer's ``Summary.Value`` as one typed value per kind.

Knows messages, not files (format.md §3, §3.7).

- ``typed``: the value classes (scalar, histogram, image, text, ...) every sink consumes.
- ``normalize``: each writer's encoding (torch, tensorboardX, TF1, TF2, Keras) -> typed values.
- ``tensor``: ``TensorProto`` -> numpy, for every dtype and writer quirk.
- ``limits``: how much memory decoding one value may take.
- ``image_header``: width and height of an encoded image from its header.
"""
