"""The image processor saved beside classicnets image models.

It is transformers' ``ViTImageProcessorPil`` (resize, rescale by 1/255, normalise with the dataset's mean and
standard deviation) plus one step transformers lacks: bringing any input to the channel count the model was
trained on. The image-classification pipeline converts every PIL image, file path or URL to RGB before the
processor sees it, and a LeNet-5 trained on one-channel MNIST rejects three channels. Here an RGB(A) image
becomes luma with the ITU-R BT.601 weights that ``PIL.Image.convert("L")`` uses, and a grey image given to a
three-channel model is repeated over the channels.

This file imports only numpy and transformers, so a checkpoint carries it as remote code and
``pipeline("image-classification", model=folder, trust_remote_code=True)`` works without classicnets.

Where the class is recorded: the model's ``config.json`` ``auto_map`` names it under ``AutoImageProcessor``,
and ``preprocessor_config.json`` holds only the preprocessing settings (no ``image_processor_type``, no
``auto_map``). transformers 5 pipelines also try to load an optional video processor, and
``AutoVideoProcessor`` turns any ``AutoImageProcessor`` entry it finds in ``preprocessor_config.json`` into a
remote-code video processor it then asks about: ``pipeline(..., model=folder)`` would stop at an interactive
"Do you wish to run the custom code?" prompt even with classicnets installed. Through the model config,
``AutoImageProcessor`` finds the class (registered with classicnets, remote code without it) and
``AutoVideoProcessor`` finds nothing, quietly.
"""

import numpy as np
from transformers import ViTImageProcessorPil


class ClassicnetsImageProcessor(ViTImageProcessorPil):
    r"""ViT-style preprocessing that also converts images to ``num_channels`` channels.

    Args:
        num_channels (`int`, defaults to 1): channels the model expects (1: grey, 3: RGB).
        **kwargs: as for ``ViTImageProcessorPil`` (``size``, ``image_mean``, ``image_std``...).

    Example:
        ```python
        >>> from PIL import Image
        >>> processor = ClassicnetsImageProcessor(num_channels=1, size={"height": 28, "width": 28},
        ...                                       image_mean=[0.1307], image_std=[0.3081])
        >>> processor(images=Image.new("RGB", (64, 64)), return_tensors="pt").pixel_values.shape
        torch.Size([1, 1, 28, 28])
        ```
    """

    model_input_names = ["pixel_values"]

    def __init__(self, num_channels: int = 1, **kwargs):
        if num_channels not in (1, 3):
            raise ValueError(f"num_channels must be 1 (grey) or 3 (RGB), got {num_channels!r}.")
        kwargs.setdefault("do_convert_rgb", False)
        super().__init__(**kwargs)
        self.num_channels = num_channels

    def to_dict(self) -> dict:
        # Keep the class out of preprocessor_config.json; the model config's auto_map names it (module docstring).
        output = super().to_dict()
        output.pop("image_processor_type", None)
        output.pop("auto_map", None)
        return output

    def process_image(self, image, *args, **kwargs) -> np.ndarray:
        image = super().process_image(image, *args, **kwargs)  # (C, H, W), channels first
        channels = image.shape[0]
        if self.num_channels == 1 and channels in (3, 4):
            # Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), rounded to the nearest integer; alpha dropped.
            rgb = image[:3].astype(np.float64)
            luma = (rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000
            image = (np.floor(luma + 0.5) if image.dtype == np.uint8 else luma).astype(image.dtype)[None]
        elif self.num_channels == 3 and channels == 1:
            image = np.repeat(image, 3, axis=0)
        elif channels != self.num_channels:
            raise ValueError(
                f"Got an image with {channels} channels; this processor prepares {self.num_channels}-channel inputs."
            )
        return image


__all__ = ["ClassicnetsImageProcessor"]
