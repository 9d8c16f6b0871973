"""Autoencoders (undercomplete, denoising, sparse; dense or convolutional; tied or untied) as Hugging Face models.

An autoencoder learns an encoder ``f`` and a decoder ``g`` that reconstruct their input through a narrow code
(Rumelhart, Hinton & Williams 1986; Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural
networks", Science 2006)::

    h     = f(x~)                      the code, (batch, latent_size); x~ = x unless denoising
    x_hat = g(h)                       the decoder output, (batch, C, H, W)
    L     = mean_i l(x_i, x_hat_i) + Omega(h)

``l`` is the squared error ``sum_p (x_p - x_hat_p)^2`` (``reconstruction_loss="mse"``) or the binary cross-entropy
``sum_p -[x_p log s(a_p) + (1 - x_p) log(1 - s(a_p))]`` computed from the logits ``a = x_hat`` (``"bce"``, ``s`` the
logistic function), summed over the pixels ``p`` of an image and averaged over the images.

Denoising (Vincent, Larochelle, Bengio & Manzagol, "Extracting and composing robust features with denoising
autoencoders", ICML 2008): in training mode the encoder reads ``x~ = x + sigma * eps`` (Gaussian) or ``x~ = x * m``
with ``m_p ~ Bernoulli(1 - nu)`` (masking noise), and ``l`` compares ``g(f(x~))`` with the clean ``x``.

Sparsity ``Omega``: ``lambda * mean_i sum_j |h_ij|`` (L1), or the KL penalty of Ng ("Sparse autoencoder", CS294A
lecture notes, 2011) ``lambda * sum_j [rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))]`` with
``rho_hat_j = mean_i h_ij`` the mean activation of code unit ``j`` over the batch (sigmoid codes).

With ``hidden_sizes=()``, ``latent_act="identity"`` and the squared error, the autoencoder is linear and its optimum
spans the space of the first ``latent_size`` principal components (Baldi & Hornik, "Neural networks and principal
component analysis", Neural Networks 1989): its reconstruction error equals PCA's.

Tied weights (dense only): decoder layer ``l`` computes ``W_{L-l+1}^T h + c_l`` with the encoder's matrix, so one
parameter serves both (the decoder keeps its own biases ``c_l``); nothing is tied by name, so save/load and optimizers
see a single tensor.

The convolutional stack uses 4x4 kernels, stride 2, padding 1 (Radford, Metz & Chintala, arXiv:1511.06434): each
convolution halves the height and width and each transposed convolution doubles them back.

This file imports only torch, transformers and its sibling configuration so that a saved checkpoint can carry it as
remote code.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput

from .configuration_autoencoder import AutoencoderConfig

# Copied from classicnets.models.mlp.modeling_mlp.ACTIVATIONS
ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}
GLOROT_ACTIVATIONS = ("sigmoid", "tanh", "identity")


def init_layer_(module: nn.Module, act: str, gain: float) -> None:
    """He-normal (ReLU family) or Glorot-uniform (sigmoid, tanh, linear) weights and zero biases, for dense,
    convolutional and transposed convolutional layers."""
    if not isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        return
    if act in GLOROT_ACTIVATIONS:
        init.xavier_uniform_(module.weight, gain=gain * (5.0 / 3.0 if act == "tanh" else 1.0))
    else:
        if isinstance(module, nn.ConvTranspose2d):
            # weight (in, out, k, k): an output pixel sums in * (k / stride)^2 products, its effective fan-in.
            fan_in = module.weight.shape[0] * module.weight[0, 0].numel() / (module.stride[0] * module.stride[1])
        else:
            fan_in = module.weight[0].numel()
        init.normal_(module.weight, mean=0.0, std=gain * math.sqrt(2.0 / fan_in))  # He: Var = 2 / fan_in
    if module.bias is not None:
        init.zeros_(module.bias)


class ImageEncoder(nn.Module):
    """x -> features: stride-2 convolutions (``"conv"``), flatten, fully connected hidden layers, each followed by the
    activation. ``output_size`` is the width of the result (the flattened image when there are no hidden layers)."""

    def __init__(self, architecture, num_channels, image_size, conv_channels, hidden_sizes, hidden_act):
        super().__init__()
        height, width = image_size
        convs, in_channels = [], num_channels
        if architecture == "conv":
            for channels in conv_channels:
                convs.append(nn.Conv2d(in_channels, channels, kernel_size=4, stride=2, padding=1))
                in_channels, height, width = channels, height // 2, width // 2
        self.convs = nn.ModuleList(convs)
        sizes = (in_channels * height * width,) + tuple(hidden_sizes)
        self.fc_layers = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))
        self.activation = ACTIVATIONS[hidden_act]()
        self.output_size = sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (batch, C, H, W)
        for conv in self.convs:
            h = self.activation(conv(h))  # (batch, c_l, H / 2^l, W / 2^l)
        h = h.flatten(1)  # (batch, features)
        for fc in self.fc_layers:
            h = self.activation(fc(h))  # (batch, hidden_sizes[l])
        return h


class ImageDecoder(nn.Module):
    """z -> image: the encoder's fully connected layers in reverse, then (``"conv"``) a reshape to the last feature map
    and stride-2 transposed convolutions. Every layer but the last is followed by the activation; the last (the
    ``output_layer``) gives logits or values of shape (batch, C, H, W)."""

    def __init__(self, architecture, num_channels, image_size, conv_channels, hidden_sizes, hidden_act, latent_size):
        super().__init__()
        height, width = image_size
        self.image_shape = (num_channels, height, width)
        deconvs = []
        if architecture == "conv":
            factor = 2 ** len(conv_channels)
            self.map_shape = (conv_channels[-1], height // factor, width // factor)
            channels = tuple(reversed(conv_channels)) + (num_channels,)
            for i in range(len(conv_channels)):
                deconvs.append(nn.ConvTranspose2d(channels[i], channels[i + 1], kernel_size=4, stride=2, padding=1))
        else:
            self.map_shape = self.image_shape
        self.deconvs = nn.ModuleList(deconvs)
        sizes = (latent_size,) + tuple(reversed(hidden_sizes)) + (math.prod(self.map_shape),)
        self.fc_layers = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))
        self.activation = ACTIVATIONS[hidden_act]()

    @property
    def output_layer(self) -> nn.Module:
        return self.deconvs[-1] if len(self.deconvs) else self.fc_layers[-1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = z  # (batch, latent_size)
        for fc in self.fc_layers:
            h = fc(h)
            if fc is not self.output_layer:
                h = self.activation(h)
        h = h.view(h.shape[0], *self.map_shape)  # (batch, c_L, H / 2^L, W / 2^L) or the image
        for deconv in self.deconvs:
            h = deconv(h)  # doubles height and width
            if deconv is not self.output_layer:
                h = self.activation(h)
        return h  # (batch, C, H, W)


class TransposedLinear(nn.Module):
    """``y = W^T x + c`` with ``W`` borrowed from an encoder layer at call time: only the bias ``c`` is a parameter."""

    def __init__(self, out_features: int):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(out_features))

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # weight: the encoder's (in_here, out_here) matrix, i.e. W with x_enc -> W x_enc; here x -> W^T x.
        return F.linear(x, weight.t(), self.bias)


class TiedDenseDecoder(nn.Module):
    """The dense decoder with tied weights: layer ``l`` uses the transpose of encoder layer ``L - l + 1``."""

    def __init__(self, encoder_sizes: tuple[int, ...], image_shape: tuple[int, int, int], hidden_act: str):
        super().__init__()
        # encoder_sizes = (D, h_1, ..., h_{L-1}, latent): decoder outputs h_{L-1}, ..., h_1, D.
        self.layers = nn.ModuleList(TransposedLinear(size) for size in reversed(encoder_sizes[:-1]))
        self.activation = ACTIVATIONS[hidden_act]()
        self.image_shape = image_shape

    @property
    def output_layer(self) -> nn.Module:
        return self.layers[-1]

    def forward(self, h: torch.Tensor, encoder_weights: list[torch.Tensor]) -> torch.Tensor:
        for layer, weight in zip(self.layers, reversed(encoder_weights), strict=True):
            h = layer(h, weight)  # x_hat^(l) = W_{L-l+1}^T h + c_l
            if layer is not self.output_layer:
                h = self.activation(h)
        return h.view(h.shape[0], *self.image_shape)  # (batch, C, H, W)


def draw_noise(shape, generator, device, dtype, uniform: bool = False) -> torch.Tensor:
    """Standard normal (or uniform [0, 1)) noise on ``device``, drawn from ``generator`` on whatever device it lives:
    a CPU generator gives a GPU model the same numbers as a CPU model."""
    source = generator.device if generator is not None else device
    sampler = torch.rand if uniform else torch.randn
    return sampler(shape, generator=generator, device=source, dtype=dtype).to(device)


def check_images(x, name: str, shape: tuple[int, int, int]) -> None:
    """Refuses a missing tensor, a wrong shape, and NaN or infinite values (which would turn every weight into NaN
    at the next optimizer step) with a message that says what to do."""
    if x is None:
        raise ValueError(f"{name} is required: a float tensor of shape (batch, {shape[0]}, {shape[1]}, {shape[2]}).")
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != tuple(shape):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} has shape {got} but this model expects (batch, {shape[0]}, {shape[1]}, {shape[2]}); resize the "
            f"images (the saved image processor does) or build the model with matching num_channels / image_size."
        )
    if not torch.isfinite(x).all():
        raise ValueError(
            f"{name} holds NaN or infinite values; clean the data first (a single NaN would make every weight NaN "
            f"after the next optimizer step)."
        )


@dataclass
class AutoencoderOutput(ModelOutput):
    """Output of [`AutoencoderModel`]. The code comes first, so the ``image-feature-extraction`` pipeline returns it.

    Args:
        latent (`torch.FloatTensor` of shape `(batch, latent_size)`): the code ``h = f(x~)``.
        logits (`torch.FloatTensor` of shape `(batch, num_channels, height, width)`): the decoder output ``g(h)``:
            Bernoulli logits for ``reconstruction_loss="bce"`` (``sigmoid`` gives the image), the reconstructed
            values themselves for ``"mse"``.
        loss (`torch.FloatTensor` of shape `()`, *optional*): ``mean_i l(x_i, x_hat_i) + Omega(h)``, when ``labels`` or
            ``return_loss=True`` are given.
        reconstruction_loss (`torch.FloatTensor` of shape `(batch,)`, *optional*): ``l(x_i, x_hat_i)`` per image,
            summed over pixels.
        sparsity_loss (`torch.FloatTensor` of shape `()`, *optional*): the penalty ``Omega(h)`` of the batch (a batch
            quantity for ``sparsity="kl"``), when the config asks for one.
    """

    latent: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    sparsity_loss: torch.FloatTensor | None = None


class AutoencoderPreTrainedModel(PreTrainedModel):
    config_class = AutoencoderConfig
    config: AutoencoderConfig
    base_model_prefix = "autoencoder"
    # The loss is a batch mean: transformers.Trainer must divide it by the accumulation steps itself.
    accepts_loss_kwargs = False
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    # Every Auto class this family serves; written to config.json so remote code resolves them all (AutoModel also
    # serves the image-feature-extraction pipeline, which reads the first output field: the code).
    _auto_map = {
        "AutoConfig": "configuration_autoencoder.AutoencoderConfig",
        "AutoModel": "modeling_autoencoder.AutoencoderModel",
        "AutoImageProcessor": "image_processing_classicnets.ClassicnetsImageProcessor",
    }

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, TransposedLinear):
            init.zeros_(module.bias)
            return
        act = self.config.hidden_act
        if module is getattr(self, "latent_layer", None):
            act = self.config.latent_act
        elif getattr(self, "decoder", None) is not None and module is self.decoder.output_layer:
            act = "identity"  # logits or values, no non-linearity
        init_layer_(module, act, self.config.initializer_range)

    def save_pretrained(self, save_directory, *args, **kwargs):
        if self.is_remote_code():
            self.config.auto_map = dict(self._auto_map)
        return super().save_pretrained(save_directory, *args, **kwargs)


class AutoencoderModel(AutoencoderPreTrainedModel):
    """Encoder ``f``, code, decoder ``g``; optionally denoising, sparse and tied (see the module docstring).

    Example:
        ```python
        >>> import torch
        >>> from classicnets import AutoencoderConfig, AutoencoderModel
        >>> model = AutoencoderModel(AutoencoderConfig(image_size=8, hidden_sizes=(32,), latent_size=4,
        ...                                            reconstruction_loss="bce")).eval()
        >>> x = torch.rand(5, 1, 8, 8)
        >>> out = model(pixel_values=x, return_loss=True)
        >>> out.latent.shape, out.logits.shape, out.loss.shape
        (torch.Size([5, 4]), torch.Size([5, 1, 8, 8]), torch.Size([]))
        ```
    """

    def __init__(self, config: AutoencoderConfig):
        super().__init__(config)
        self.encoder = ImageEncoder(config.architecture, config.num_channels, config.image_size, config.conv_channels,
                                    config.hidden_sizes, config.hidden_act)
        self.latent_layer = nn.Linear(self.encoder.output_size, config.latent_size)
        self.latent_activation = ACTIVATIONS[config.latent_act]()
        if config.tie_weights:
            sizes = (config.input_size,) + tuple(config.hidden_sizes) + (config.latent_size,)
            self.decoder = TiedDenseDecoder(sizes, (config.num_channels, *config.image_size), config.hidden_act)
        else:
            self.decoder = ImageDecoder(config.architecture, config.num_channels, config.image_size,
                                        config.conv_channels, config.hidden_sizes, config.hidden_act,
                                        config.latent_size)
        self.post_init()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.config.num_channels, *self.config.image_size)

    # ------------------------------------------------------------------------------ the textbook verbs
    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The code ``h = f(x)``, shape (batch, latent_size). No corruption: that is :meth:`corrupt`'s job."""
        check_images(pixel_values, "pixel_values", self.image_shape)
        features = self.encoder(pixel_values)  # (batch, encoder.output_size)
        return self.latent_activation(self.latent_layer(features))  # (batch, latent_size)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """The decoder output ``g(h)``, shape (batch, C, H, W): logits (bce) or values (mse)."""
        if latent.dim() != 2 or latent.shape[1] != self.config.latent_size:
            raise ValueError(f"latent has shape {tuple(latent.shape)}; expected (batch, {self.config.latent_size}).")
        if self.config.tie_weights:
            weights = [fc.weight for fc in self.encoder.fc_layers] + [self.latent_layer.weight]
            return self.decoder(latent, weights)
        return self.decoder(latent)

    def reconstruct(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``g(f(x))`` as images: ``sigmoid`` of the logits for bce, the values for mse (no corruption)."""
        x_hat = self.decode(self.encode(pixel_values))
        return torch.sigmoid(x_hat) if self.config.reconstruction_loss == "bce" else x_hat

    def corrupt(self, pixel_values: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The denoising corruption ``x~`` of the config (the input itself for ``corruption="none"``).

        Gaussian: ``x~ = x + corruption_level * eps``, ``eps ~ N(0, I)``. Masking: each value is kept with probability
        ``1 - corruption_level`` and set to 0 otherwise (Vincent et al. 2008).
        """
        kind, level = self.config.corruption, self.config.corruption_level
        if kind == "gaussian":
            eps = draw_noise(pixel_values.shape, generator, pixel_values.device, pixel_values.dtype)
            return pixel_values + level * eps
        if kind == "masking":
            u = draw_noise(pixel_values.shape, generator, pixel_values.device, torch.float32, uniform=True)
            return pixel_values * (u >= level).to(pixel_values.dtype)  # m_p ~ Bernoulli(1 - nu)
        return pixel_values

    def sparsity_penalty(self, latent: torch.Tensor) -> torch.Tensor | None:
        """``Omega(h)`` of a batch of codes (None for ``sparsity="none"``): L1 or Ng's KL penalty."""
        kind, weight = self.config.sparsity, self.config.sparsity_weight
        if kind == "l1":
            return weight * latent.abs().sum(dim=1).mean()  # lambda * mean_i sum_j |h_ij|
        if kind == "kl":
            rho = self.config.sparsity_target
            # rho_hat_j = mean_i h_ij; a saturated sigmoid gives exactly 0 or 1 in float32: keep the logs finite.
            eps = torch.finfo(latent.dtype).eps
            rho_hat = latent.mean(dim=0).clamp(eps, 1 - eps)  # (latent_size,)
            kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
            return weight * kl.sum()  # lambda * sum_j KL(rho || rho_hat_j)
        return None

    def reconstruction_error(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``l(x, x_hat)`` per image, summed over pixels: squared error, or binary cross-entropy from the logits."""
        dtype = torch.promote_types(logits.dtype, torch.float32)  # half precision is summed in float32
        logits, target = logits.to(dtype), target.to(dtype)
        if self.config.reconstruction_loss == "bce":
            if target.min() < 0 or target.max() > 1:
                raise ValueError(
                    "reconstruction_loss='bce' needs targets in [0, 1] (pixel intensities or binarized pixels), got "
                    f"values in [{target.min().item():.3g}, {target.max().item():.3g}]; scale the images to [0, 1] "
                    "(an image processor with do_normalize=False) or use reconstruction_loss='mse'."
                )
            # -[x log s(a) + (1 - x) log(1 - s(a))] = softplus(a) - x a: exact for any logit, never log(0).
            per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            per_pixel = (logits - target) ** 2
        return per_pixel.flatten(1).sum(dim=1)  # (batch,)

    def forward(self, pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                return_loss: bool | None = None, generator: torch.Generator | None = None,
                return_dict: bool | None = None, **kwargs) -> AutoencoderOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.Tensor` of shape `(batch, num_channels, height, width)`): the images ``x``. In
                training mode they are corrupted first when the config asks for a denoising autoencoder.
            labels (`torch.Tensor` of the same shape, *optional*): reconstruction targets; defaults to the clean
                ``pixel_values``. Giving them computes the loss.
            return_loss (`bool`, *optional*): compute the loss against ``pixel_values`` without passing labels.
            generator (`torch.Generator`, *optional*): draws the corruption noise (training mode).
        """
        check_images(pixel_values, "pixel_values", self.image_shape)
        x_tilde = self.corrupt(pixel_values, generator) if self.training else pixel_values
        latent = self.encode(x_tilde)  # (batch, latent_size)
        logits = self.decode(latent)  # (batch, C, H, W)
        loss = reconstruction_loss = sparsity_loss = None
        if labels is not None or return_loss:
            target = pixel_values if labels is None else labels
            if labels is not None:
                check_images(labels, "labels", self.image_shape)
            reconstruction_loss = self.reconstruction_error(logits, target)  # (batch,)
            loss = reconstruction_loss.mean()
            sparsity_loss = self.sparsity_penalty(latent.to(torch.promote_types(latent.dtype, torch.float32)))
            if sparsity_loss is not None:
                loss = loss + sparsity_loss
        if return_dict is False:
            return tuple(t for t in (latent, logits, loss, reconstruction_loss, sparsity_loss) if t is not None)
        return AutoencoderOutput(latent=latent, logits=logits, loss=loss, reconstruction_loss=reconstruction_loss,
                                 sparsity_loss=sparsity_loss)


__all__ = ["AutoencoderPreTrainedModel", "AutoencoderModel", "AutoencoderOutput"]
