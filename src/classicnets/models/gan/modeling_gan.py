"""Generative adversarial networks (the MLP GAN, DCGAN, class-conditional GANs) as one Hugging Face model.

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (arXiv:1406.2661), train a generator ``G`` and a
discriminator ``D`` on the minimax game

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],        z ~ N(0, I)

Here ``D`` returns a *logit* ``l``, ``D(x) = sigmoid(l)``, and every loss is written with
``-log sigmoid(l) = softplus(-l)`` and ``-log(1 - sigmoid(l)) = softplus(l)``, which torch evaluates exactly for any
``l`` (softplus(200) = 200, softplus(-200) = 0, never ``log(0)``):

    L_D = E_x[softplus(-D(x))] + E_z[softplus(D(G(z)))]          (= -V, ascended by D)
    L_G = E_z[softplus(-D(G(z)))]                                 (the non-saturating loss, -log D(G(z)))

``L_G`` is the paper's non-saturating alternative to minimising ``log(1 - D(G(z)))``, whose gradient vanishes when
``D`` confidently rejects early samples (Goodfellow et al. 2014, section 3).

The networks: multilayer perceptrons on flattened images (``architecture="mlp"``), or DCGAN (Radford, Metz &
Chintala, ICLR 2016, arXiv:1511.06434): ``G`` projects ``z`` with one matrix multiplication to a
``(C_0, H / 2^n, W / 2^n)`` map and doubles it ``n`` times with stride-2 transposed convolutions (kernel 4, padding
1: ``out = 2 in``); ``D`` halves the image with stride-2 convolutions (``out = floor(in / 2)``), flattens the last
map and applies one affine layer. Batch normalization (Ioffe & Szegedy 2015, arXiv:1502.03167) follows every hidden
layer except ``G``'s output and ``D``'s input; ``G`` uses ReLU and a ``tanh`` output, ``D`` LeakyReLU(0.2); every
weight starts from N(0, 0.02). A conditional GAN (Mirza & Osindero 2014, arXiv:1411.1784) concatenates the
one-hot label ``y`` to ``z`` and to ``D``'s input (as constant feature maps for DCGAN).

What ``forward`` computes: ``forward(pixel_values)`` is the discriminator, ``logits = D(x)`` of shape ``(batch,)``;
``forward(latents=z)`` is the whole GAN, ``generated_pixel_values = G(z)`` and ``logits = D(G(z))``. ``sample`` draws
images, ``generate_images``/``discriminate`` apply one network, and the two losses are static methods.

This file imports only torch, transformers and its sibling configuration so that a saved checkpoint can carry it
as remote code.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput

from .configuration_gan import GANConfig


def make_activation(name: str, negative_slope: float) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}[name]()


def one_hot_labels(labels: torch.Tensor | None, config: GANConfig, batch_size: int, device, dtype) -> torch.Tensor | None:
    """The one-hot condition ``y`` (batch, num_labels) of a conditional GAN, ``None`` for an unconditional one;
    raises a `ValueError` for labels the model cannot take."""
    if not config.conditional:
        if labels is not None:
            raise ValueError(
                "This GAN is unconditional (conditional=False) and takes no labels; build it with "
                "GANConfig(conditional=True, num_labels=...) to condition on classes."
            )
        return None
    if labels is None:
        raise ValueError(f"This GAN is conditional: give labels, a tensor of {batch_size} class ids in [0, {config.num_labels}).")
    if not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor of class ids, got {type(labels).__name__} "
                         f"{getattr(labels, 'dtype', '')}.")
    if tuple(labels.shape) != (batch_size,):
        raise ValueError(f"labels must have shape ({batch_size},), one class id per image, got {tuple(labels.shape)}.")
    if batch_size and (labels.min() < 0 or labels.max() >= config.num_labels):
        raise ValueError(f"labels must lie in [0, {config.num_labels}), got values from {labels.min().item()} to "
                         f"{labels.max().item()}.")
    return F.one_hot(labels.to(device=device, dtype=torch.long), config.num_labels).to(dtype)  # (batch, K)


def check_finite(tensor: torch.Tensor, name: str) -> None:
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean the input (a GAN step on it would turn the "
                         f"weights into NaN).")


class GANLinearBlock(nn.Module):
    """affine -> (batch norm) -> activation -> (dropout): one hidden layer of an MLP generator or discriminator."""

    def __init__(self, in_features: int, out_features: int, normalization: str, activation: nn.Module,
                 dropout_prob: float, eps: float):
        super().__init__()
        batch_norm = normalization == "batch"
        self.linear = nn.Linear(in_features, out_features, bias=not batch_norm)  # a bias before BN is absorbed by beta
        self.norm = nn.BatchNorm1d(out_features, eps=eps) if batch_norm else nn.Identity()
        self.activation = activation
        self.dropout = nn.Dropout(dropout_prob) if dropout_prob > 0 else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.norm(self.linear(h))))  # (batch, out_features)


class GANConvBlock(nn.Module):
    """(transposed) convolution, kernel 4, stride 2, padding 1 -> (batch norm) -> activation -> (dropout): a DCGAN
    stage that doubles (``transposed=True``, generator) or halves (discriminator) the height and width."""

    def __init__(self, in_channels: int, out_channels: int, transposed: bool, normalization: str,
                 activation: nn.Module, dropout_prob: float, eps: float):
        super().__init__()
        batch_norm = normalization == "batch"
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=not batch_norm)
        self.norm = nn.BatchNorm2d(out_channels, eps=eps) if batch_norm else nn.Identity()
        self.activation = activation
        self.dropout = nn.Dropout(dropout_prob) if dropout_prob > 0 else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.norm(self.conv(h))))  # (batch, out_channels, H', W')


class GANGenerator(nn.Module):
    """``G``: latent ``z`` (batch, latent_size) and, when conditional, class ids -> images in [-1, 1]."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        sizes, act = config.generator_hidden_sizes, config.generator_hidden_act
        slope, eps, norm = config.leaky_relu_negative_slope, config.layer_norm_eps, config.generator_normalization
        in_features = config.latent_size + config.num_conditions  # [z; y]
        if config.architecture == "mlp":
            widths = (in_features,) + tuple(sizes)
            self.layers = nn.ModuleList(
                GANLinearBlock(widths[i], widths[i + 1], norm, make_activation(act, slope), 0.0, eps)
                for i in range(len(sizes))
            )
            self.output = nn.Linear(sizes[-1], config.num_channels * config.image_size[0] * config.image_size[1])
        else:
            self.start_shape = config.generator_feature_map_sizes()[0]  # (C_0, H / 2^n, W / 2^n)
            channels, height, width = self.start_shape
            # "Project and reshape" (Radford et al. 2016): one matrix multiplication, then BN and ReLU on the map.
            self.project = nn.Linear(in_features, channels * height * width, bias=norm != "batch")
            self.project_norm = nn.BatchNorm2d(channels, eps=eps) if norm == "batch" else nn.Identity()
            self.project_activation = make_activation(act, slope)
            self.layers = nn.ModuleList(
                GANConvBlock(sizes[i], sizes[i + 1], True, norm, make_activation(act, slope), 0.0, eps)
                for i in range(len(sizes) - 1)
            )
            # The output layer: no batch norm (Radford et al.: BN on G's output made samples oscillate).
            self.output = nn.ConvTranspose2d(sizes[-1], config.num_channels, kernel_size=4, stride=2, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        config = self.config
        y = one_hot_labels(labels, config, z.shape[0], z.device, z.dtype)
        h = z if y is None else torch.cat([z, y], dim=1)  # (batch, latent_size + K)
        if config.architecture == "mlp":
            for layer in self.layers:
                h = layer(h)  # (batch, generator_hidden_sizes[l])
            x = torch.tanh(self.output(h))  # (batch, C * H * W) in [-1, 1]
            return x.view(-1, *config.image_shape)  # (batch, C, H, W)
        h = self.project(h).view(-1, *self.start_shape)  # (batch, C_0, H / 2^n, W / 2^n)
        h = self.project_activation(self.project_norm(h))
        for layer in self.layers:
            h = layer(h)  # (batch, C_{i+1}, 2 H_i, 2 W_i)
        return torch.tanh(self.output(h))  # (batch, C, H, W) in [-1, 1]


class GANDiscriminator(nn.Module):
    """``D``: images (and, when conditional, class ids) -> one logit per image, the log-odds of "real"."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        sizes, act = config.discriminator_hidden_sizes, config.discriminator_hidden_act
        slope, eps, p = config.leaky_relu_negative_slope, config.layer_norm_eps, config.discriminator_dropout_prob
        k = config.num_conditions
        if config.architecture == "mlp":
            widths = (config.num_channels * config.image_size[0] * config.image_size[1] + k,) + tuple(sizes)
            self.layers = nn.ModuleList(
                # No batch norm on the layer that reads the input (as in DCGAN).
                GANLinearBlock(widths[i], widths[i + 1], "none" if i == 0 else config.discriminator_normalization,
                               make_activation(act, slope), p, eps)
                for i in range(len(sizes))
            )
            self.output = nn.Linear(sizes[-1], 1)
        else:
            channels = (config.num_channels + k,) + tuple(sizes)
            self.layers = nn.ModuleList(
                GANConvBlock(channels[i], channels[i + 1], False,
                             "none" if i == 0 else config.discriminator_normalization, make_activation(act, slope), p, eps)
                for i in range(len(sizes))
            )
            c, h, w = config.discriminator_feature_map_sizes()[-1]
            # "The last convolution layer is flattened and then fed into a single sigmoid output" (Radford et al.).
            self.output = nn.Linear(c * h * w, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        config = self.config
        y = one_hot_labels(labels, config, x.shape[0], x.device, x.dtype)
        if config.architecture == "mlp":
            h = x.flatten(1)  # (batch, C * H * W)
            if y is not None:
                h = torch.cat([h, y], dim=1)  # [x; y]
        else:
            h = x
            if y is not None:  # y as K constant maps stacked on the image channels
                h = torch.cat([h, y[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)  # (batch, C + K, H, W)
        for layer in self.layers:
            h = layer(h)
        return self.output(h.flatten(1)).squeeze(1)  # (batch,) logits l, D(x) = sigmoid(l)


@dataclass
class GANOutput(ModelOutput):
    """Output of [`GANModel`].

    Args:
        logits (`torch.FloatTensor` of shape `(batch,)`): the discriminator's logits, ``D(x) = sigmoid(logits)``:
            of ``pixel_values``, or of the generated images when ``latents`` were given.
        generated_pixel_values (`torch.FloatTensor` of shape `(batch, channels, height, width)`, *optional*):
            ``G(latents)`` in [-1, 1], when ``latents`` were given.
    """

    logits: torch.FloatTensor | None = None
    generated_pixel_values: torch.FloatTensor | None = None


class GANPreTrainedModel(PreTrainedModel):
    config_class = GANConfig
    config: GANConfig
    base_model_prefix = "gan"
    accepts_loss_kwargs = False
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    # Every Auto class this family serves; written to config.json so remote code resolves them all.
    _auto_map = {
        "AutoConfig": "configuration_gan.GANConfig",
        "AutoModel": "modeling_gan.GANModel",
    }

    def _init_weights(self, module: nn.Module) -> None:
        # Radford et al. 2016: "All weights were initialized from a zero-centered Normal distribution with standard
        # deviation 0.02." Biases start at 0, batch-norm scales at 1.
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

    def save_pretrained(self, save_directory, *args, **kwargs):
        if self.is_remote_code():
            self.config.auto_map = dict(self._auto_map)
        return super().save_pretrained(save_directory, *args, **kwargs)


class GANModel(GANPreTrainedModel):
    """A generator and a discriminator in one model; see the module docstring for what ``forward`` computes.

    Example:
        >>> import torch
        >>> from classicnets import GANConfig, GANModel
        >>> model = GANModel(GANConfig.conditional_gan(num_labels=10))
        >>> images = model.sample(8, labels=3, generator=torch.Generator().manual_seed(0))  # eight 3s, in [-1, 1]
        >>> real_logits = model(pixel_values=images).logits  # D(x), shape (8,)
    """

    def __init__(self, config: GANConfig):
        super().__init__(config)
        self.generator = GANGenerator(config)
        self.discriminator = GANDiscriminator(config)
        self.post_init()

    # ------------------------------------------------------------------ the two networks
    def generate_images(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``G(z)``: images (batch, C, H, W) in [-1, 1] from latents (batch, latent_size), in the current mode."""
        expected = self.config.latent_size
        if latents.dim() != 2 or latents.shape[1] != expected:
            raise ValueError(f"latents has shape {tuple(latents.shape)} but this model expects (batch, {expected}).")
        check_finite(latents, "latents")
        return self.generator(latents, labels)

    def discriminate(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``D``'s logits (batch,) for images (batch, C, H, W) in [-1, 1]."""
        expected = self.config.image_shape
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"pixel_values has shape {tuple(pixel_values.shape)} but this model expects (batch, {expected[0]}, "
                f"{expected[1]}, {expected[2]}) in [-1, 1]."
            )
        check_finite(pixel_values, "pixel_values")
        return self.discriminator(pixel_values, labels)

    def forward(self, pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                latents: torch.Tensor | None = None, return_dict: bool | None = None, **kwargs) -> GANOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.Tensor` of shape `(batch, num_channels, height, width)`): images in [-1, 1] for the
                discriminator. Give either these or `latents`.
            labels (`torch.LongTensor` of shape `(batch,)`): class ids conditioning both networks (conditional GANs
                only). They are an input, not a target: a GAN has no supervised loss, so no `loss` is returned; the
                two losses are [`GANModel.discriminator_loss`] and [`GANModel.generator_loss`].
            latents (`torch.Tensor` of shape `(batch, latent_size)`): ``z``; the output then holds ``G(z)`` and
                ``D(G(z))``.
        """
        if (pixel_values is None) == (latents is None):
            raise ValueError("GANModel takes either pixel_values (to run the discriminator) or latents (to run the "
                             "generator, then the discriminator on its images), not both and not neither.")
        generated = None
        if latents is not None:
            generated = self.generate_images(latents, labels)  # G(z), (batch, C, H, W)
            logits = self.discriminator(generated, labels)  # D(G(z)), (batch,)
        else:
            logits = self.discriminate(pixel_values, labels)  # D(x), (batch,)
        if return_dict is False:
            return tuple(t for t in (logits, generated) if t is not None)
        return GANOutput(logits=logits, generated_pixel_values=generated)

    # ------------------------------------------------------------------ sampling
    def _sample_labels(self, num_samples: int, labels) -> torch.Tensor | None:
        if labels is None:
            if not self.config.conditional:
                return None
            # Classes 0, 1, ..., K - 1, 0, 1, ... in turn: a grid of samples shows every class.
            return torch.arange(num_samples, device=self.device) % self.config.num_labels
        if not self.config.conditional:
            one_hot_labels(labels, self.config, num_samples, self.device, self.dtype)  # raises the clear error
        if isinstance(labels, int) and not isinstance(labels, bool):
            labels = torch.full((num_samples,), labels, dtype=torch.long)
        elif isinstance(labels, (list, tuple)):
            labels = torch.tensor(labels, dtype=torch.long)
        labels = labels.to(self.device)
        one_hot_labels(labels, self.config, num_samples, self.device, self.dtype)  # validates shape, dtype, range
        return labels

    @torch.no_grad()
    def sample(self, num_samples: int, labels: torch.Tensor | list[int] | int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws ``num_samples`` images ``G(z)``, ``z ~ N(0, I)``, in the data range [-1, 1].

        The generator runs in eval mode (batch norm uses its running statistics, so an image does not depend on
        the other images drawn with it); the model's mode is restored afterwards.

        Args:
            num_samples: how many images.
            labels: for a conditional GAN, the class of each image: a tensor or list of ``num_samples`` ids, or one
                int for all; ``None`` cycles through the classes (0, 1, ..., K - 1, 0, ...). An unconditional GAN
                refuses labels.
            generator: the `torch.Generator` that draws ``z``; the same seed gives the same images.

        Returns:
            A tensor of shape (num_samples, num_channels, height, width) in [-1, 1] (``(x + 1) * 127.5`` gives
            8-bit pixels).

        Example:
            >>> images = model.sample(16, generator=torch.Generator().manual_seed(0))
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int, got {num_samples!r}.")
        labels = self._sample_labels(num_samples, labels)
        # Draw on the generator's device (a CPU generator cannot fill a CUDA tensor), then move.
        device = generator.device if generator is not None else self.device
        z = torch.randn(num_samples, self.config.latent_size, generator=generator, device=device)
        z = z.to(device=self.device, dtype=self.dtype)  # (num_samples, latent_size)
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(z, labels)  # (num_samples, C, H, W)
        finally:
            self.generator.train(was_training)

    # ------------------------------------------------------------------ losses
    @staticmethod
    def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """``L_D = mean softplus(-D(x)) + mean softplus(D(G(z)))``: the binary cross-entropy of "real" for data
        and "fake" for samples, from logits; exact for any logit (``L_D = 0`` for logits +200 / -200)."""
        # -log sigmoid(l) = softplus(-l); -log(1 - sigmoid(l)) = softplus(l)
        return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()

    @staticmethod
    def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
        """The non-saturating ``L_G = mean softplus(-D(G(z))) = -mean log D(G(z))`` (Goodfellow et al. 2014), from
        logits; exact for any logit (200 for a logit of -200)."""
        return F.softplus(-fake_logits.float()).mean()


__all__ = ["GANPreTrainedModel", "GANModel", "GANOutput", "GANGenerator", "GANDiscriminator"]
