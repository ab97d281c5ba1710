"""Whatever a script hands ``wandb.Image`` as PNG bytes: tensors (C, H, W), numpy arrays
(H, W[, C]), batches side by side, PIL images, matplotlib figures, PNG files."""

from __future__ import annotations

import io
import os
from typing import Any

from lernkurve.tracking.wandbsurface.png import SIGNATURE, encode_png

MAX_PIXELS = 1 << 26  # larger images are refused (64 megapixels)


def png_bytes(data: Any) -> bytes:
    """The image as PNG bytes; ValueError or TypeError when it is none."""
    if isinstance(data, (str, os.PathLike)):
        return _file(os.fspath(data))
    if hasattr(data, "savefig"):  # a matplotlib figure
        buffer = io.BytesIO()
        data.savefig(buffer, format="png")
        return buffer.getvalue()
    array, chw = _array(data)
    return encode_png(_uint8(_hwc(array, chw)))


def _file(path: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:8] == SIGNATURE:
        return data
    from PIL import Image as PILImage  # another format: only with Pillow

    with PILImage.open(io.BytesIO(data)) as image:
        return png_bytes(image.convert("RGBA"))


def _array(data: Any) -> tuple[Any, bool]:
    """(numpy array, whether it is laid out channels first as torch images are)."""
    import numpy as np

    if hasattr(data, "detach"):  # a torch tensor
        tensor = data.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()
        return tensor.numpy(), True
    if hasattr(data, "convert") and hasattr(data, "mode"):  # a PIL image
        if data.mode not in ("L", "LA", "RGB", "RGBA"):
            data = data.convert("RGBA")
        return np.asarray(data), False
    return np.asarray(data), False


def _hwc(array: Any, chw: bool) -> Any:
    import numpy as np

    if array.ndim == 4:  # a batch: side by side
        array = np.concatenate(list(array), axis=2 if chw else 1)
    if array.ndim == 3:
        first, last = array.shape[0], array.shape[-1]
        if (chw and first in (1, 2, 3, 4)) or (first in (1, 3, 4) and last not in (1, 2, 3, 4)):
            array = array.transpose(1, 2, 0)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or 0 in array.shape:
        raise ValueError(f"an image is (height, width[, 1 to 4 channels]), not {array.shape}")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ValueError(f"an image of {array.shape[0]}×{array.shape[1]} is too large")
    return array


def _uint8(array: Any) -> Any:
    """Bytes as they are; floats in [0, 1] (or [-1, 1]) scaled to 0..255; the rest clipped."""
    import numpy as np

    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    values = np.nan_to_num(array.astype(np.float64))
    if np.issubdtype(array.dtype, np.floating):
        low, high = values.min(), values.max()
        if low >= 0 and high <= 1:
            values = values * 255
        elif low >= -1 and high <= 1:
            values = (values + 1) * 127.5
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
