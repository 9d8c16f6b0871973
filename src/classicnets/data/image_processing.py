"""The image processor saved beside an image model, so that ``pipeline("image-classification")`` works.

It is a :class:`ClassicnetsImageProcessor` (transformers' ``ViTImageProcessorPil`` that also brings inputs to
the model's channel count), configured from a :class:`DatasetSpec` to do exactly what the training code
does: keep one grayscale channel, resize to ``spec.image_size`` (a no-op for the dataset's own images),
scale by 1/255 and normalise with ``spec.mean``/``spec.std``:

    pixel_values = (u / 255 - mean) / std        # (1, 1, H, W) for one uint8 image u of shape (H, W)

It is registered with ``AutoImageProcessor`` when classicnets is imported and saved with its own code and
``auto_map`` otherwise. The image-classification pipeline converts every PIL image, file path or URL to RGB
before the processor sees it; the processor turns that back into the one grey channel the model expects.
In transformers 5.25 a 2-D array ``(H, W)`` is not accepted as an image: pass ``u[None]`` (``(1, H, W)``),
``u[..., None]`` or ``PIL.Image.fromarray(u)``.

Example:
    >>> from classicnets.data import make_image_processor
    >>> processor = make_image_processor("mnist")
    >>> processor.size.height, processor.size.width, processor.image_mean
    (28, 28, (0.1307,))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .specs import DatasetSpec, ImageDatasetSpec, get_spec

if TYPE_CHECKING:
    from .image_processing_classicnets import ClassicnetsImageProcessor


def make_image_processor(spec_or_name: DatasetSpec | str) -> ClassicnetsImageProcessor:
    """Builds the image processor that preprocesses images exactly as the training code does.

    Args:
        spec_or_name: a :class:`DatasetSpec` or the name of one in :data:`DATASETS`.

    Returns:
        A ``ClassicnetsImageProcessor`` with ``num_channels=spec.num_channels``, ``size=spec.image_size``
        (bilinear), ``rescale_factor=1/255``, ``image_mean=spec.mean`` and ``image_std=spec.std``. Save it with
        ``save_pretrained(folder)`` beside the model.

    Raises:
        ValueError: for an unknown dataset name or one that is not an image dataset.
        TypeError: if ``spec_or_name`` is neither a spec nor a string.

    Example:
        >>> import numpy as np
        >>> u = np.zeros((1, 28, 28), dtype=np.uint8)
        >>> make_image_processor("mnist")(images=u, return_tensors="pt").pixel_values.shape
        torch.Size([1, 1, 28, 28])
    """
    from transformers.image_utils import PILImageResampling

    from .image_processing_classicnets import ClassicnetsImageProcessor

    if isinstance(spec_or_name, DatasetSpec):
        spec = spec_or_name
    elif isinstance(spec_or_name, str):
        spec = get_spec(spec_or_name)
    else:
        raise TypeError(f"make_image_processor expects a DatasetSpec or a dataset name, got {type(spec_or_name)}.")
    if not isinstance(spec, ImageDatasetSpec):
        raise ValueError(f"{spec.name} is a {spec.task} dataset; an image processor needs an image dataset.")
    if len(spec.mean) != spec.num_channels or len(spec.std) != spec.num_channels:
        raise ValueError(f"{spec.name}: mean and std need one value per channel ({spec.num_channels}).")
    height, width = spec.image_size
    return ClassicnetsImageProcessor(
        num_channels=spec.num_channels,
        do_resize=True,
        size={"height": height, "width": width},
        resample=PILImageResampling.BILINEAR,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(spec.mean),
        image_std=list(spec.std),
        do_convert_rgb=False,
    )


__all__ = ["make_image_processor"]
