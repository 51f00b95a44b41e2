"""The layer protocol that every piece of a network follows (cs231n style).

A layer is a small object with two methods:

    forward(a_prev)  -> its output, keeping what the backward pass will need
    backward(grad)   -> given ∂C/∂(its output), returns ∂C/∂(its input)

Layers with parameters name them in ``params`` (e.g. ``("W", "b")``) and, after a backward pass,
hold the gradient of each in the array of the same name prefixed with ``d`` (``dW``, ``db``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

Array = np.ndarray


class Buffered:
    """Owns scratch arrays that are reused from batch to batch: no allocation per batch."""

    def __init__(self) -> None:
        self._buffers: dict[str, Array] = {}  # the arrays, sized to the largest batch seen
        self._views: dict[str, Array] = {}  # the view of each that the last call returned

    def _buffer(self, key: str, shape: tuple[int, ...], dtype: np.dtype, fill: float | None = None) -> Array:
        """A scratch array of ``shape``, reused across calls (``fill``: a constant it holds).

        The buffer grows to the largest batch seen and smaller batches get a view of its first
        rows, so the short last batch of an epoch does not reallocate. The common case, the same
        shape as last time, returns the same view at once (this runs ~15 times per step).
        """
        view = self._views.get(key)
        if view is not None and view.shape == shape and view.dtype is dtype:  # `is`: fast, and safe
            return view
        buf = self._buffers.get(key)
        if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:] or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype) if fill is None else np.full(shape, fill, dtype=dtype)
            self._buffers[key] = buf
        view = self._views[key] = buf[: shape[0]]
        return view

    def clear_buffers(self) -> None:
        """Free the scratch arrays (they come back, sized to the next batch, on the next pass)."""
        self._buffers.clear()
        self._views.clear()


class Layer(Buffered):
    """Base class of the layers: forward, backward, and a config for model files."""

    params: ClassVar[tuple[str, ...]] = ()
    _network_owned = False  # set by the Network whose flat arrays hold this layer's parameters

    def forward(self, a_prev: Array, training: bool = False) -> Array:
        raise NotImplementedError

    def backward(self, grad: Array, need_input_grad: bool = True) -> Array | None:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """What a model file needs to rebuild this layer (weights are stored separately)."""
        return {"type": type(self).__name__}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"
