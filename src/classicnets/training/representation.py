"""Autoencoders and variational autoencoders on image datasets: what ``classicnets train autoencoder|vae`` builds
before the common loop runs, the pictures it leaves in the model folder, and ``classicnets evaluate`` of such folders.

- ``autoencoder``: an :class:`~classicnets.models.autoencoder.AutoencoderModel` trained on its own loss (the
  reconstruction error of the config, plus its sparsity penalty; a denoising autoencoder corrupts its training
  inputs with noise drawn from the loop's seeded generator), evaluated by its reconstruction error per test image
  (:class:`~classicnets.training.tasks.ReconstructionTask`).
- ``vae``: a :class:`~classicnets.models.vae.VAEModel` trained on the negative ELBO (``beta``-weighted), evaluated by
  the ELBO, its two terms and, once at the end, an importance-sampled negative log-likelihood on binarized test
  images (:class:`~classicnets.training.tasks.VAETask`).

Both read pixel intensities scaled to [0, 1] (no standardisation: the Bernoulli likelihood and the bce loss need
targets in [0, 1]); the saved image processor does the same, so ``pipeline("image-feature-extraction", model=folder)``
returns the code ``h`` (autoencoder) or the posterior mean ``mu`` (VAE) of what training saw.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from .arguments import TrainingArguments
from .sequence import TrainingRun
from .tasks import NLL_BLOCK, TEST_BINARIZATION_SEED, ReconstructionTask, VAETask, collate_batch

logger = logging.getLogger(__name__)

MODEL_TYPES = {"classicnets_autoencoder": "autoencoder", "classicnets_vae": "vae"}
DEFAULT_IMPORTANCE_SAMPLES = 100
# What the pictures show: a fixed choice of test images, the same for every run on a dataset.
PICTURE_SEED = 0
GRID_COLUMNS = 10


def _model_class(arch: str):
    from ..models.autoencoder import AutoencoderModel
    from ..models.vae import VAEModel

    return {"autoencoder": AutoencoderModel, "vae": VAEModel}[arch]


def default_binarize(config) -> str:
    """``dynamic`` for a Bernoulli decoder (binary data), ``none`` for a Gaussian one (real values)."""
    return "dynamic" if config.decoder_distribution == "bernoulli" else "none"


def check_arguments(arch: str, spec, args: TrainingArguments) -> None:
    """Refuses flags that mean nothing for an autoencoder or a VAE, naming the flag and what to do instead."""
    wrong = []
    if args.init_from:
        wrong.append("--init-from (fine-tunes image classifiers; load a pretrained autoencoder or VAE in Python)")
    if args.augment != "none":
        wrong.append(f"--augment {args.augment} (augments classifier training images)")
    if args.label_smoothing:
        wrong.append("--label-smoothing (smooths class labels; autoencoders have none)")
    if args.block_size or args.tokenizer:
        wrong.append("--block-size / --tokenizer (for text and time series)")
    if arch == "autoencoder" and (args.binarize is not None or args.importance_samples is not None):
        wrong.append("--binarize / --importance-samples (for the vae's likelihood; an autoencoder has none)")
    if wrong:
        raise ValueError(f"{arch} on {spec.name}: drop " + "; ".join(wrong) + ".")


def build_representation_run(arch: str, spec, args: TrainingArguments, preset: str | None = None,
                             config_overrides: dict | None = None, data_source: str = "auto") -> TrainingRun:
    """The model, task, datasets and picture writer of ``classicnets train autoencoder|vae`` on an image dataset.

    For a VAE, ``args.binarize`` and ``args.importance_samples`` are set to the values used when they were left
    ``None`` (``dynamic`` for a Bernoulli decoder, ``none`` for a Gaussian one; 100 samples), so that
    ``training_args.json``, the card and ``classicnets evaluate`` record and reuse them.

    Raises:
        ValueError: a flag that only classifiers or text use, ``--binarize`` with a Gaussian decoder, or a config
            the dataset's images cannot take (e.g. ``latent_size=0``); the message says what to change.
    """
    from ..data import check_classes, image_tensors, load_dataset, make_image_processor, select_classes
    from .runner import build_config, split_train

    check_arguments(arch, spec, args)
    classes = check_classes(spec, args.classes)
    label_names = [spec.label_names[c] for c in classes] if classes else list(spec.label_names)
    config = build_config(arch, spec, preset, config_overrides, label_names)
    model = _model_class(arch)(config)
    if arch == "vae":
        if args.binarize is None:
            args.binarize = default_binarize(config)  # recorded in training_args.json for `classicnets evaluate`
        if args.binarize != "none" and config.decoder_distribution != "bernoulli":
            raise ValueError(
                f"--binarize {args.binarize} makes the images binary, which a Gaussian decoder "
                f"(decoder_distribution={config.decoder_distribution!r}) models badly; use --binarize none with it, "
                f"or the Bernoulli decoder for binarized images."
            )
        if args.importance_samples is None:
            args.importance_samples = DEFAULT_IMPORTANCE_SAMPLES

    splits = load_dataset(spec.name, source=data_source)
    train_images, train_labels = image_tensors(splits["train"])
    test_images, test_labels = image_tensors(splits["test"])
    # Row numbers in the whole split of the kept examples: held-out images are binarized (and get their ELBO noise)
    # as part of the whole split, so an image looks the same whatever subset or classes a run evaluates.
    train_rows, train_kept = select_classes(torch.arange(len(train_labels)), train_labels, classes)
    train_idx, val_idx = split_train(len(train_kept), args.validation_split, args.train_subset, args.seed)
    test_rows, test_kept = select_classes(torch.arange(len(test_labels)), test_labels, classes)
    if args.eval_subset:
        test_rows, test_kept = test_rows[: args.eval_subset], test_kept[: args.eval_subset]

    if arch == "vae":
        task = VAETask(config.latent_size, config.beta, args.binarize, args.importance_samples)
        train_ds = task.train_dataset(train_images[train_rows[train_idx]], train_kept[train_idx], seed=args.seed)
        val_ds = task.eval_dataset(train_images, train_kept[val_idx], index=train_rows[val_idx]) if len(val_idx) else None
        test_ds = task.eval_dataset(test_images, test_kept, index=test_rows)
    else:
        task = ReconstructionTask(config.reconstruction_loss)
        train_ds = task.dataset(train_images[train_rows[train_idx]], train_kept[train_idx])
        val_ds = task.dataset(train_images[train_rows[val_idx]], train_kept[val_idx]) if len(val_idx) else None
        test_ds = task.dataset(test_images[test_rows], test_kept)
    processor = make_image_processor(spec)
    processor.do_normalize = False  # the models read intensities in [0, 1], as in training

    def write_extras(folder: Path, trained) -> tuple[list, dict]:
        pictures = write_pictures(folder, trained, test_ds, label_names, arch)
        return pictures, {"Evaluation": evaluation_section(arch, trained.config, args, len(test_ds), spec.name)}

    return TrainingRun(model, task, train_ds, val_ds, test_ds, "test", processor, card_task=task.name,
                       write_extras=write_extras)


# ---------------------------------------------------------------------------------------------------- pictures
@torch.no_grad()
def _codes(model, x: torch.Tensor) -> torch.Tensor:
    """The code of each image: ``h`` (autoencoder) or the posterior mean ``mu`` (VAE)."""
    code = model.encode(x)
    return code[0] if isinstance(code, tuple) else code


@torch.no_grad()
def _decoded_images(model, z: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] for codes ``z``: the decoder's mean (``sigmoid`` of logits for bce / Bernoulli)."""
    logits = model.decode(z)
    if hasattr(model, "decoder_mean"):
        return model.decoder_mean(logits)
    return torch.sigmoid(logits) if model.config.reconstruction_loss == "bce" else logits


def _interpolation_pairs(labels: torch.Tensor, rows: int, generator: torch.Generator) -> list[tuple[int, int]]:
    """``rows`` seeded pairs of test images with different labels (the same images as the labels allow)."""
    pairs, n = [], len(labels)
    order = torch.randperm(n, generator=generator).tolist()
    for a in order:
        b = next((j for j in order if labels[j] != labels[a] and all(j not in p for p in pairs)), None)
        if b is not None and all(a not in p for p in pairs):
            pairs.append((a, b))
        if len(pairs) == rows:
            break
    return pairs


@torch.no_grad()
def write_pictures(folder: str | Path, model, dataset, label_names, arch: str) -> list[tuple[str, str]]:
    """Writes the pictures of a trained autoencoder or VAE into ``folder``; returns ``(file, caption)`` pairs.

    - ``reconstructions.png``: 30 test images (a seeded choice) and their reconstructions on alternate rows;
    - ``samples.png`` (VAE): 100 images decoded from ``z ~ N(0, I)`` (the decoder's mean, seeded);
    - ``interpolation.png``: five rows, each from one test image to another of a different class: the two images at
      the ends, the decoded codes at 8 evenly spaced points of the straight line between their codes in between;
    - ``latent_space.png``: the codes of up to 5,000 test images coloured by label: the code itself when it has two
      dimensions, else its first two principal components (the axis labels say which).

    Everything the pictures draw from is seeded (:data:`PICTURE_SEED`), so two runs show the same test images.
    """
    from ..latent_plots import latent_2d, plot_latent_scatter
    from ..plots import plot_image_grid

    folder = Path(folder)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    images, labels = dataset.tensors["images"], dataset.tensors["labels"]
    x_all = images.to(torch.float32) / 255.0
    generator = torch.Generator().manual_seed(PICTURE_SEED)
    ncol = min(GRID_COLUMNS, len(x_all))
    shown = torch.randperm(len(x_all), generator=generator)[: min(30, len(x_all) // ncol * ncol)]
    pictures = []
    binary = " (binarized)" if arch == "vae" and bool(((images == 0) | (images == 255)).all()) else ""

    # Reconstructions: originals and reconstructions on alternate rows.
    x = x_all[shown].to(device)
    x_hat = model.reconstruct(x)
    rows = []
    for r in range(0, len(x), ncol):
        rows += [x[r:r + ncol].cpu(), x_hat[r:r + ncol].cpu()]
    plot_image_grid(torch.cat(rows), folder / "reconstructions.png", ncol=ncol,
                    row_labels=["test image" + binary, "reconstruction"] * (len(rows) // 2),
                    title="Test images and their reconstructions")
    pictures.append(("reconstructions.png", "Test images (odd rows) and their reconstructions (even rows)"))

    if arch == "vae":
        samples = model.sample(100, generator=torch.Generator().manual_seed(PICTURE_SEED)).cpu()
        plot_image_grid(samples, folder / "samples.png", ncol=GRID_COLUMNS, title="Samples: decoder mean for z ~ N(0, I)")
        pictures.append(("samples.png", "100 samples: the decoder's mean for z ~ N(0, I)"))

    # Interpolations between the codes of two test images of different classes.
    pairs = _interpolation_pairs(labels, 5, generator)
    if pairs:
        steps = torch.linspace(0, 1, GRID_COLUMNS - 2)
        tiles, names = [], []
        for a, b in pairs:
            x_ab = x_all[[a, b]].to(device)
            z_a, z_b = _codes(model, x_ab)
            z = (1 - steps[:, None].to(device)) * z_a + steps[:, None].to(device) * z_b  # (steps, latent)
            tiles += [x_ab[:1].cpu(), _decoded_images(model, z).cpu(), x_ab[1:].cpu()]
            names.append(f"{_name(label_names, labels[a])} -> {_name(label_names, labels[b])}")
        plot_image_grid(torch.cat(tiles), folder / "interpolation.png", ncol=GRID_COLUMNS, row_labels=names,
                        title="Decoded codes along straight lines between two test images")
        pictures.append(("interpolation.png", "Latent interpolation: two test images at the ends, the decoded points "
                                              "of the straight line between their codes in between"))

    # The latent space, coloured by label.
    if model.config.latent_size >= 2:
        keep = torch.randperm(len(x_all), generator=generator)[:5000]
        codes = torch.cat([_codes(model, x_all[keep[i:i + 1000]].to(device)).cpu() for i in range(0, len(keep), 1000)])
        xy, axes = latent_2d(codes)
        what = "posterior means mu" if arch == "vae" else "codes h"
        how = "the 2-D code itself" if model.config.latent_size == 2 else (
            f"first two principal components of the {model.config.latent_size}-D {what}")
        plot_latent_scatter(xy, labels[keep], folder / "latent_space.png", label_names=label_names, axis_labels=axes,
                            title=f"{what[:1].upper()}{what[1:]} of {len(keep):,} test images")
        pictures.append(("latent_space.png", f"Latent space of {len(keep):,} test images coloured by label ({how})"))
    model.train(was_training)
    return pictures


def _name(label_names, label) -> str:
    i = int(label)
    return str(label_names[i]) if label_names and i < len(label_names) else str(i)


def evaluation_section(arch: str, config, args: TrainingArguments, num_test: int, dataset: str) -> str:
    """The card's account of what the metrics measure (and on which images)."""
    usage = (
        "The `image-feature-extraction` pipeline returns the "
        + ("code `h`" if arch == "autoencoder" else "posterior mean `mu`")
        + " of an image (the image processor scales the pixels to [0, 1], as in training):\n\n"
        "```python\nimport classicnets\nfrom transformers import pipeline\n\n"
        "extract = pipeline(\"image-feature-extraction\", model=\"<this folder or repo>\")\n"
        f"code = extract(image)  # [[{config.latent_size} numbers]]\n```\n"
    )
    if arch == "autoencoder":
        error = ("binary cross-entropy between the image and `sigmoid` of the decoder's logits, in nats per image "
                 "(summed over the pixels)" if config.reconstruction_loss == "bce"
                 else "squared error summed over the pixels of an image (intensities in [0, 1])")
        extra = []
        if config.corruption != "none":
            extra.append(f"Training inputs were corrupted ({config.corruption} noise, level {config.corruption_level:g}) "
                         "with noise from the run's seeded generator; the test images were not.")
        if config.sparsity != "none":
            extra.append(f"The training loss adds the {config.sparsity} sparsity penalty (weight "
                         f"{config.sparsity_weight:g}); `loss` below is the reconstruction error alone.")
        return (f"`loss` is the reconstruction error of the model's own objective: the {error}, averaged over the "
                f"{num_test:,} test images of {dataset}. `mse` is the mean squared error per pixel of the reconstructed "
                f"image (intensities in [0, 1]). {' '.join(extra)}\n\n{usage}")
    train_binarization = {
        "dynamic": "dynamically binarized: each training image was drawn anew as Bernoulli(intensities) every time it "
                   "was seen, from the run's seeded generator",
        "fixed": f"binarized once (Bernoulli of the intensities, seed {args.seed})",
        "none": "not binarized (grey levels in [0, 1] as targets)",
    }[args.binarize]
    test_binarization = (
        f"binarized once with a fixed seed ({TEST_BINARIZATION_SEED}: Bernoulli of the intensities, the same binary "
        "test set in every run and in `classicnets evaluate`)" if args.binarize != "none"
        else "not binarized: with grey-level targets the Bernoulli 'likelihood' is not a likelihood of discrete data, "
             "so these numbers do not compare with published binarized-MNIST results"
    )
    nll = (f" `nll` is the importance-sampled estimate of -log p(x) with k = {args.importance_samples} samples per "
           f"image (Burda et al. 2015; blocks of {NLL_BLOCK} images with seeded generators), an upper bound in "
           "expectation that tightens as k grows; published binarized-MNIST results use k = 5000 or 1000."
           if args.importance_samples else "")
    return (
        f"Training images were {train_binarization}. The {num_test:,} test images of {dataset} were "
        f"{test_binarization}. All numbers are in nats per image. `elbo` is the evidence lower bound "
        "log p(x|z) - KL(q(z|x) || p(z)) estimated with one sample z = mu + sigma * eps per image whose eps is fixed "
        "per image; `reconstruction` is -log p(x|z) and `kl` the KL term (closed form); `loss` is reconstruction + "
        f"beta * kl with beta = {config.beta:g}, the training objective.{nll}\n\n{usage}"
    )


# ---------------------------------------------------------------------------------------------------- evaluate
def _training_args(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / "training_args.json").read_text())
    except (OSError, ValueError):
        return {}


@torch.no_grad()
def evaluate_representation_folder(folder: str | Path, spec, split: str = "test", batch_size: int = 1000,
                                   data_source: str = "auto", trust_remote_code: bool = False,
                                   importance_samples: int | None = None) -> dict:
    """Recomputes the test metrics of an autoencoder or VAE folder in this process, from the saved model alone.

    The model is loaded with ``AutoModel`` (as the ``image-feature-extraction`` pipeline loads it). A folder written
    by ``classicnets train`` on this dataset is evaluated on the same images as training evaluated: its classes, its
    ``--eval-subset`` on the test split, and (VAE) its binarization, with the fixed test seed and ELBO noise, and its
    number of importance samples unless ``importance_samples`` is given. The recorded values come back as
    ``at_training`` with ``matches_training`` (every recomputed metric within 1e-6 relative).
    """
    from transformers import AutoModel

    from ..data import image_tensors, load_dataset, select_classes
    from ..evaluation import recorded_dataset
    from ..loading import load_pretrained

    folder = Path(folder)
    if split not in spec.splits:
        raise ValueError(f"{spec.name} has the splits {', '.join(spec.splits)}; choose one of them with --split.")
    model = load_pretrained(folder, AutoModel, trust_remote_code=trust_remote_code).eval()
    arch = MODEL_TYPES.get(model.config.model_type)
    if arch is None:
        raise ValueError(f"{folder} holds a {model.config.model_type!r} model, not an autoencoder or VAE.")
    shape = (model.config.num_channels, *model.config.image_size)
    if shape != (spec.num_channels, *spec.image_size):
        raise ValueError(
            f"{folder} reads {shape[0]}x{shape[1]}x{shape[2]} images but {spec.name} has "
            f"{spec.num_channels}x{spec.image_size[0]}x{spec.image_size[1]}; evaluate it on a dataset with that shape."
        )
    recorded = _training_args(folder)
    same_run = recorded_dataset(folder) == spec.name
    classes = tuple(recorded["classes"]) if same_run and recorded.get("classes") else None
    subset = recorded.get("eval_subset") if same_run and split == "test" else None
    images, labels = image_tensors(load_dataset(spec.name, source=data_source)[split])
    rows, kept = select_classes(torch.arange(len(labels)), labels, classes)
    if subset:
        rows, kept = rows[:subset], kept[:subset]
    if arch == "vae":
        binarize = (recorded.get("binarize") if same_run else None) or default_binarize(model.config)
        k = importance_samples if importance_samples is not None else (
            recorded.get("importance_samples") if same_run and recorded.get("importance_samples") is not None
            else DEFAULT_IMPORTANCE_SAMPLES)
        task = VAETask(model.config.latent_size, model.config.beta, binarize, k)
        dataset = task.eval_dataset(images, kept, index=rows)
    else:
        task = ReconstructionTask(model.config.reconstruction_loss)
        dataset = task.dataset(images[rows], kept)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate_batch)
    parts = []
    for batch in loader:
        inputs = task.model_inputs(batch, train=False, generator=None, device=model.device)
        outputs = task.eval_forward(model, inputs) if hasattr(task, "eval_forward") else model(**inputs)
        parts.append(task.eval_tensors(outputs, inputs))
    metrics = task.compute_metrics(*[torch.cat(c) for c in zip(*parts, strict=True)])
    if hasattr(task, "final_metrics"):
        metrics.update(task.final_metrics(model, dataset))
    result = {"model": str(folder), "model_class": type(model).__name__, "dataset": spec.name, "split": split,
              **({"classes": list(classes)} if classes else {}), "num_examples": len(dataset)}
    if arch == "vae":
        result["binarization"] = (f"fixed (seed {TEST_BINARIZATION_SEED})" if task.binarize != "none" else "none")
    result.update(metrics)
    if same_run:
        try:
            at_training = json.loads((folder / "metrics.json").read_text())
        except (OSError, ValueError):
            at_training = {}
        pairs = {key: at_training.get(f"{split}_{key}") for key, value in metrics.items()
                 if isinstance(value, float) and isinstance(at_training.get(f"{split}_{key}"), float)}
        if arch == "vae" and at_training.get(f"{split}_nll_samples") != metrics.get("nll_samples"):
            pairs.pop("nll", None)  # another k estimates another bound
        if pairs:
            result["at_training"] = pairs
            result["matches_training"] = all(abs(value - metrics[key]) <= 1e-6 * max(1.0, abs(value))
                                             for key, value in pairs.items())
    return result


__all__ = ["MODEL_TYPES", "build_representation_run", "evaluate_representation_folder", "write_pictures"]
