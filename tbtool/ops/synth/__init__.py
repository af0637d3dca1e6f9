"""``tbtool synth``: synthetic logdirs of any size, kind, writer style and fault.

- ``generate``: :func:`~tbtool.ops.synth.generate.synth`, the plan of a logdir and its manifest.
- ``run``: one run written event by event (faults injected where planned).
- ``bulk``: scalar-only runs written in bulk, byte for byte what the writer would write.
- ``events``: the events of each kind, as bytes.
- ``styles``: how each writer (torch, tensorboardX, TF1, TF2, Keras) encodes each kind.
- ``shapes``: the curves and arrays values follow (losses that fall, accuracies that rise).
- ``faults``: the damage synth can inject (truncation, bad CRCs, restarts, junk).
"""
