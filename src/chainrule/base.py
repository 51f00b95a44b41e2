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
    """Owns scratch arrays that are reused from batch to batch: no allocation per batch.

    A layer makes views of its arrays for the shape of its input in `_resize`, which its forward
    pass calls only when that shape (or dtype) changes: the first batch, the short last batch of
    an epoch, the first batch of the next. Any other step costs one comparison.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, Array] = {}  # the arrays, sized to the largest batch seen
        self._shape: tuple[int, ...] | None = None  # the input shape and dtype of the views
        self._dtype: np.dtype | None = None

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """Make the views for inputs of ``shape`` and ``dtype`` (subclasses add theirs)."""
        self._shape, self._dtype = shape, dtype

    def _buffer(self, key: str, shape: tuple[int, ...], dtype: np.dtype, fill: float | None = None) -> Array:
        """A scratch array of ``shape``, reused across calls (``fill``: a constant it holds).

        The buffer grows to the largest batch seen and smaller batches get a view of its first
        rows, so the short last batch of an epoch does not reallocate.
        """
        buf = self._buffers.get(key)
        if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:] or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype) if fill is None else np.full(shape, fill, dtype=dtype)
            self._buffers[key] = buf
        return buf[: shape[0]]

    def clear_buffers(self) -> None:
        """Free the scratch arrays (they come back, sized to the next batch, on the next pass)."""
        self._buffers.clear()
        self._shape = self._dtype = None


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
