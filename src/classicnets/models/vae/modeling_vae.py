"""The variational autoencoder (one stochastic layer; dense or convolutional; Bernoulli or Gaussian decoder).

Model (Kingma & Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114; Rezende, Mohamed & Wierstra, "Stochastic
backpropagation and approximate inference in deep generative models", arXiv:1401.4082)::

    p(z)      = N(0, I)                                   prior, z of size latent_size
    p(x | z)  = prod_p Bernoulli(x_p; sigmoid(a_p(z)))     decoder_distribution="bernoulli", logits a = decode(z)
              or prod_p N(x_p; m_p(z), sigma^2)            "gaussian", mean m = decode(z)
    q(z | x)  = N(mu(x), diag(exp(logvar(x))))            the encoder

Training maximises the evidence lower bound, per image::

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)) <= log p(x)
    KL      = 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)         closed form (Kingma & Welling, appendix B)
    z       = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)                 reparameterization trick

with the expectation estimated from one sample; the loss is ``mean_i [-E_q log p(x_i | z) + beta * KL_i]`` (beta-VAE:
Higgins et al., ICLR 2017; ``beta = 1`` gives the negative ELBO). Bernoulli log-likelihoods are computed from the
logits, ``log p(x | z) = -sum_p [softplus(a_p) - x_p a_p]``, exact for any logit.

Evaluation: :meth:`VAEModel.importance_sampled_nll` estimates ``-log p(x)`` with ``k`` samples from ``q``
(Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", arXiv:1509.00519, eq. 8)::

    log p(x) ~ log (1/k) sum_s p(x | z_s) p(z_s) / q(z_s | x),   z_s ~ q(z | x)

computed with log-sum-exp over the log-weights, decoding the ``k`` samples in chunks so memory stays bounded.

Gaussian decoder: the variance is fixed at ``decoder_std ** 2`` or learned as one scalar shared by all pixels (the
"calibrated decoder" of Rybkin, Daniilidis & Levine, arXiv:2006.13202); its log-likelihoods are densities, so they are
not comparable with Bernoulli nats on discrete data.

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

from .configuration_vae import VAEConfig

LOG_2PI = math.log(2 * math.pi)

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


# Copied from classicnets.models.autoencoder.modeling_autoencoder.init_layer_
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


# Copied from classicnets.models.autoencoder.modeling_autoencoder.ImageEncoder
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


# Copied from classicnets.models.autoencoder.modeling_autoencoder.ImageDecoder
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


# Copied from classicnets.models.autoencoder.modeling_autoencoder.draw_noise
def draw_noise(shape, generator, device, dtype, uniform: bool = False) -> torch.Tensor:
    """Standard normal (or uniform [0, 1)) noise on ``device``, drawn from ``generator`` on whatever device it lives:
    a CPU generator gives a GPU model the same numbers as a CPU model."""
    source = generator.device if generator is not None else device
    sampler = torch.rand if uniform else torch.randn
    return sampler(shape, generator=generator, device=source, dtype=dtype).to(device)


# Copied from classicnets.models.autoencoder.modeling_autoencoder.check_images
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


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per row, shape (batch,), in nats (closed form)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed over the last dimension."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(dim=-1)


@dataclass
class VAEOutput(ModelOutput):
    """Output of [`VAEModel`]. The posterior mean comes first, so the ``image-feature-extraction`` pipeline returns it.

    Args:
        mu (`torch.FloatTensor` of shape `(batch, latent_size)`): mean of ``q(z | x)``.
        logvar (`torch.FloatTensor` of shape `(batch, latent_size)`): log-variance of ``q(z | x)``.
        z (`torch.FloatTensor` of shape `(batch, latent_size)`): the latent that was decoded: a reparameterized sample
            in training mode (or with ``sample_posterior=True``), ``mu`` otherwise.
        logits (`torch.FloatTensor` of shape `(batch, num_channels, height, width)`): the decoder output for ``z``:
            Bernoulli logits, or the Gaussian mean.
        loss (`torch.FloatTensor` of shape `()`, *optional*): ``mean_i [reconstruction_loss_i + beta *
            kl_divergence_i]``, the negative ELBO for ``beta = 1`` (a one-sample estimate when ``z`` is sampled).
        reconstruction_loss (`torch.FloatTensor` of shape `(batch,)`, *optional*): ``-log p(x_i | z_i)`` in nats.
        kl_divergence (`torch.FloatTensor` of shape `(batch,)`, *optional*): ``KL(q(z | x_i) || p(z))`` in nats.
    """

    mu: torch.FloatTensor | None = None
    logvar: torch.FloatTensor | None = None
    z: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    kl_divergence: torch.FloatTensor | None = None


class VAEPreTrainedModel(PreTrainedModel):
    config_class = VAEConfig
    config: VAEConfig
    base_model_prefix = "vae"
    # The loss is a batch mean: transformers.Trainer must divide it by the accumulation steps itself.
    accepts_loss_kwargs = False
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    # Every Auto class this family serves; written to config.json so remote code resolves them all (AutoModel also
    # serves the image-feature-extraction pipeline, which reads the first output field: mu).
    _auto_map = {
        "AutoConfig": "configuration_vae.VAEConfig",
        "AutoModel": "modeling_vae.VAEModel",
        "AutoImageProcessor": "image_processing_classicnets.ClassicnetsImageProcessor",
    }

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, VAEModel) and module.decoder_logvar is not None:
            init.constant_(module.decoder_logvar, 2.0 * math.log(self.config.decoder_std))  # log sigma^2
            return
        act = self.config.hidden_act
        if module is getattr(self, "mu_layer", None) or module is getattr(self, "logvar_layer", None):
            act = "identity"  # linear heads; zero bias: q starts at unit variance
        elif getattr(self, "decoder", None) is not None and module is self.decoder.output_layer:
            act = "identity"  # logits or means
        init_layer_(module, act, self.config.initializer_range)

    def save_pretrained(self, save_directory, *args, **kwargs):
        if self.is_remote_code():
            self.config.auto_map = dict(self._auto_map)
        return super().save_pretrained(save_directory, *args, **kwargs)


class VAEModel(VAEPreTrainedModel):
    """Gaussian encoder, reparameterized sampling and a Bernoulli or Gaussian decoder (see the module docstring).

    Example:
        ```python
        >>> import torch
        >>> from classicnets import VAEConfig, VAEModel
        >>> model = VAEModel(VAEConfig(image_size=8, hidden_sizes=(32,), latent_size=2)).eval()
        >>> x = torch.randint(0, 2, (5, 1, 8, 8)).float()        # binarized images
        >>> mu, logvar = model.encode(x)
        >>> model.elbo(x, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([5])
        >>> model.importance_sampled_nll(x, k=100, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([5])
        ```
    """

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        self.encoder = ImageEncoder(config.architecture, config.num_channels, config.image_size, config.conv_channels,
                                    config.hidden_sizes, config.hidden_act)
        self.mu_layer = nn.Linear(self.encoder.output_size, config.latent_size)  # mu(x)
        self.logvar_layer = nn.Linear(self.encoder.output_size, config.latent_size)  # log sigma^2(x)
        self.decoder = ImageDecoder(config.architecture, config.num_channels, config.image_size, config.conv_channels,
                                    config.hidden_sizes, config.hidden_act, config.latent_size)
        learned = config.decoder_distribution == "gaussian" and config.decoder_variance == "learned"
        # log sigma^2 of the Gaussian decoder, one scalar shared by all pixels (fixed: a constant from the config).
        self.decoder_logvar = nn.Parameter(torch.empty(())) if learned else None
        self.post_init()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.config.num_channels, *self.config.image_size)

    # ------------------------------------------------------------------------------ the textbook verbs
    def encode(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The parameters of ``q(z | x)``: ``(mu, logvar)``, each of shape (batch, latent_size)."""
        check_images(pixel_values, "pixel_values", self.image_shape)
        h = self.encoder(pixel_values)  # (batch, encoder.output_size)
        return self.mu_layer(h), self.logvar_layer(h)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """A sample ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``, differentiable in ``mu`` and ``logvar``."""
        eps = draw_noise(mu.shape, generator, mu.device, mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder output for ``z`` of shape (batch, latent_size): Bernoulli logits or the Gaussian mean,
        shape (batch, C, H, W)."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_size:
            raise ValueError(f"z has shape {tuple(z.shape)}; expected (batch, {self.config.latent_size}).")
        return self.decoder(z)

    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images from the model: ``z ~ N(0, I)``, then the decoder's mean (``sigmoid`` of the logits for Bernoulli),
        shape (num_samples, C, H, W). Wrap in ``torch.no_grad()`` unless gradients are wanted."""
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int, got {num_samples!r}.")
        weight = self.mu_layer.weight
        z = draw_noise((num_samples, self.config.latent_size), generator, weight.device, weight.dtype)
        return self.decoder_mean(self.decode(z))

    def decoder_mean(self, logits: torch.Tensor) -> torch.Tensor:
        """``E[x | z]`` from the decoder output: ``sigmoid(logits)`` (Bernoulli) or the mean itself (Gaussian)."""
        return torch.sigmoid(logits) if self.config.decoder_distribution == "bernoulli" else logits

    def reconstruct(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``E[x | z = mu(x)]``: the deterministic reconstruction, shape (batch, C, H, W)."""
        mu, _ = self.encode(pixel_values)
        return self.decoder_mean(self.decode(mu))

    def log_likelihood(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` per image, summed over pixels, in nats; shape (batch,)."""
        dtype = torch.promote_types(logits.dtype, torch.float32)  # half precision is summed in float32
        logits, target = logits.to(dtype), target.to(dtype)
        if self.config.decoder_distribution == "bernoulli":
            # log Bernoulli(x; sigmoid(a)) = -(softplus(a) - x a): torch's BCE-with-logits, exact for any logit.
            per_pixel = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            if self.decoder_logvar is not None:
                logvar = self.decoder_logvar.to(dtype)
            else:
                logvar = torch.tensor(2.0 * math.log(self.config.decoder_std), device=logits.device, dtype=dtype)
            # log N(x; m, sigma^2) = -1/2 [(x - m)^2 / sigma^2 + log sigma^2 + log 2 pi]
            per_pixel = -0.5 * ((target - logits).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI)
        return per_pixel.flatten(1).sum(dim=1)

    def kl_divergence(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """``KL(q(z | x) || p(z))`` per image in nats, shape (batch,), in closed form."""
        dtype = torch.promote_types(mu.dtype, torch.float32)
        return gaussian_kl(mu.to(dtype), logvar.to(dtype))

    # ------------------------------------------------------------------------------ evaluation
    def _check_target(self, target: torch.Tensor, name: str) -> None:
        check_images(target, name, self.image_shape)
        if self.config.decoder_distribution == "bernoulli" and (target.min() < 0 or target.max() > 1):
            raise ValueError(
                f"decoder_distribution='bernoulli' needs {name} in [0, 1] (binarized pixels for a true likelihood), "
                f"got values in [{target.min().item():.3g}, {target.max().item():.3g}]; scale the images to [0, 1] "
                f"(an image processor with do_normalize=False) or use decoder_distribution='gaussian'."
            )

    def _posterior_chunks(self, mu, logvar, num_samples, generator, chunk_size):
        """Yields ``(eps, z)`` of shape (chunk, batch, latent_size) until ``num_samples`` samples per image are drawn."""
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
            raise ValueError(f"the number of samples must be a positive int, got {num_samples!r}.")
        if chunk_size is None:
            chunk_size = max(1, 4096 // mu.shape[0])  # about 4096 images through the decoder at a time
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}.")
        std = torch.exp(0.5 * logvar)
        for start in range(0, num_samples, chunk_size):
            size = min(chunk_size, num_samples - start)
            eps = draw_noise((size, *mu.shape), generator, mu.device, mu.dtype)
            yield eps, mu + std * eps  # z_s = mu + sigma * eps_s

    def _decoded_log_likelihood(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``log p(x | z_s)`` for z of shape (chunk, batch, latent): shape (chunk, batch)."""
        chunk, batch = z.shape[:2]
        logits = self.decode(z.reshape(chunk * batch, -1))  # (chunk * batch, C, H, W)
        expanded = target.unsqueeze(0).expand(chunk, *target.shape).reshape(chunk * batch, *target.shape[1:])
        return self.log_likelihood(logits, expanded).view(chunk, batch)

    def elbo(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, num_samples: int = 1,
             generator: torch.Generator | None = None, chunk_size: int | None = None) -> torch.Tensor:
        """The evidence lower bound per image in nats, shape (batch,): ``mean_s log p(x | z_s) - KL(q || p)`` with
        ``num_samples`` reparameterized samples (the KL in closed form; ``beta`` is not applied).

        Args:
            pixel_values: the encoder input ``x``.
            labels: the images whose likelihood is bounded, if they differ from ``pixel_values``.
            num_samples: samples of ``z`` per image.
            generator: draws the samples.
            chunk_size: samples per image decoded at a time (default: about 4096 images per chunk).
        """
        target = pixel_values if labels is None else labels
        self._check_target(target, "pixel_values" if labels is None else "labels")
        mu, logvar = self.encode(pixel_values)
        total = 0.0
        for _, z in self._posterior_chunks(mu, logvar, num_samples, generator, chunk_size):
            total = total + self._decoded_log_likelihood(z, target).sum(dim=0)  # (batch,)
        return total / num_samples - self.kl_divergence(mu, logvar)

    @torch.no_grad()
    def importance_sampled_nll(self, pixel_values: torch.Tensor, k: int = 1000, generator: torch.Generator | None = None,
                               chunk_size: int | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The importance-sampled estimate of ``-log p(x)`` per image in nats, shape (batch,) (Burda et al. 2015).

        ``-log (1/k) sum_s w_s`` with ``log w_s = log p(x | z_s) + log p(z_s) - log q(z_s | x)``, ``z_s ~ q(z | x)``,
        through log-sum-exp. Its expectation is the negative IWAE bound: at least ``-log p(x)``, decreasing towards it
        as ``k`` grows (``k = 1`` is the negative one-sample ELBO). Samples are decoded ``chunk_size`` at a time;
        only the ``k`` log-weights per image are kept. Runs without gradients (an evaluation metric).

        Args:
            pixel_values: images ``x`` of shape (batch, C, H, W); in [0, 1] for the Bernoulli decoder.
            k: importance samples per image (the usual evaluation uses 5000 or 1000).
            generator: draws the samples.
            chunk_size: samples per image decoded at a time (default: about 4096 images per chunk).
            labels: the images whose likelihood is estimated, if they differ from ``pixel_values``.
        """
        target = pixel_values if labels is None else labels
        self._check_target(target, "pixel_values" if labels is None else "labels")
        mu, logvar = self.encode(pixel_values)
        dtype = torch.promote_types(mu.dtype, torch.float32)
        mu, logvar = mu.to(dtype), logvar.to(dtype)
        log_weights = []
        for eps, z in self._posterior_chunks(mu, logvar, k, generator, chunk_size):
            log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(dim=-1)  # log N(z; mu, sigma^2), (z - mu) / sigma = eps
            log_p_z = standard_normal_log_prob(z)
            log_p_x_z = self._decoded_log_likelihood(z.to(self.mu_layer.weight.dtype), target)
            log_weights.append(log_p_x_z + log_p_z - log_q)  # (chunk, batch)
        log_w = torch.cat(log_weights)  # (k, batch)
        return -(torch.logsumexp(log_w, dim=0) - math.log(k))

    # ------------------------------------------------------------------------------ forward
    def forward(self, pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                return_loss: bool | None = None, sample_posterior: bool | None = None,
                generator: torch.Generator | None = None, return_dict: bool | None = None,
                **kwargs) -> VAEOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.Tensor` of shape `(batch, num_channels, height, width)`): the images ``x``.
            labels (`torch.Tensor` of the same shape, *optional*): the images to reconstruct; defaults to
                ``pixel_values``. Giving them computes the loss.
            return_loss (`bool`, *optional*): compute the loss against ``pixel_values`` without passing labels.
            sample_posterior (`bool`, *optional*): decode a reparameterized sample of ``q(z | x)`` (the default in
                training mode) or its mean ``mu`` (the default in eval mode: deterministic reconstructions and
                features; the loss is then not an ELBO estimate, use :meth:`elbo`).
            generator (`torch.Generator`, *optional*): draws ``eps`` of the reparameterization.
        """
        check_images(pixel_values, "pixel_values", self.image_shape)
        want_loss = labels is not None or bool(return_loss)
        if want_loss:
            self._check_target(pixel_values if labels is None else labels, "pixel_values" if labels is None else "labels")
        mu, logvar = self.encode(pixel_values)  # (batch, latent_size) each
        sample = self.training if sample_posterior is None else sample_posterior
        z = self.reparameterize(mu, logvar, generator) if sample else mu
        logits = self.decode(z)  # (batch, C, H, W)
        loss = reconstruction_loss = kl = None
        if want_loss:
            target = pixel_values if labels is None else labels
            reconstruction_loss = -self.log_likelihood(logits, target)  # -log p(x | z), (batch,)
            kl = self.kl_divergence(mu, logvar)  # (batch,)
            loss = (reconstruction_loss + self.config.beta * kl).mean()  # -ELBO for beta = 1
        if return_dict is False:
            return tuple(t for t in (mu, logvar, z, logits, loss, reconstruction_loss, kl) if t is not None)
        return VAEOutput(mu=mu, logvar=logvar, z=z, logits=logits, loss=loss, reconstruction_loss=reconstruction_loss,
                         kl_divergence=kl)


__all__ = ["VAEPreTrainedModel", "VAEModel", "VAEOutput", "gaussian_kl"]
