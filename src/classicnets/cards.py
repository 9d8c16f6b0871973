"""Model cards for classicnets checkpoints, built on ``huggingface_hub.ModelCard``.

A card is the ``README.md`` of a checkpoint folder. Its YAML front matter carries what the Hub indexes
(``library_name: classicnets``, tags, datasets, ``pipeline_tag``, license, ``base_model`` and a
``model-index`` block with the measured metrics, built from ``EvalResult``); its Markdown body says what
the architecture is (the paper, from :data:`FAMILIES`), what it is for, how it was trained and evaluated,
shows the pictures that sit beside it, and how to load it with and without classicnets installed.

A card is public: hyperparameters and configs are scrubbed before rendering. Keys that name secrets
(``hub_token``, ``token``, ``api_key``, ``password``...) and values shaped like access tokens are
dropped, absolute paths become their base names, and any remaining path under a home folder in the text
is cut down to its base name.

Example:
    >>> import tempfile
    >>> from classicnets.cards import write_model_card
    >>> path = write_model_card(
    ...     tempfile.mkdtemp(), family="cnn", model_name="lenet5-mnist", dataset_name="MNIST",
    ...     dataset_id="ylecun/mnist", metrics={"accuracy": 0.9912, "loss": 0.0291},
    ...     hyperparameters={"learning_rate": 1e-3, "hub_token": "hf_secret"},
    ... )
    >>> path.name
    'README.md'
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .utils import atomic_write_text

logger = logging.getLogger(__name__)

# One entry per architecture family: the founding paper, a paragraph on what the model computes, what it
# is good for and where it falls short. ``related`` lists the later papers the implementation also follows.
FAMILIES: dict[str, dict[str, Any]] = {
    "mlp": {
        "display_name": "multilayer perceptron",
        "title": "Learning representations by back-propagating errors",
        "authors": "David E. Rumelhart, Geoffrey E. Hinton, Ronald J. Williams",
        "year": 1986,
        "venue": "Nature 323, 533-536",
        "url": "https://doi.org/10.1038/323533a0",
        "arxiv": None,
        "description": (
            "A multilayer perceptron (feedforward network) stacks fully connected layers: each hidden layer "
            "computes h_l = phi(W_l h_{l-1} + b_l), optionally with normalization and dropout, and an affine "
            "output layer gives the logits (classification, trained with cross-entropy) or the prediction "
            "(regression, trained with mean squared error). All weights are learned by back-propagation of "
            "the loss gradient, the procedure popularised by Rumelhart, Hinton and Williams."
        ),
        "intended_use": (
            "Teaching and baselines: classifying flattened images or tabular features, and comparing "
            "activations, initialisations and regularizers on small data sets."
        ),
        "limitations": (
            "An MLP ignores the spatial or sequential structure of its input: it is not translation "
            "invariant, needs many parameters for images, and is far below convolutional networks on "
            "natural images. Inputs must have the size and preprocessing used in training."
        ),
        "related": [
            {
                "title": "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
                "authors": "Nitish Srivastava et al.",
                "year": 2014,
                "url": "https://jmlr.org/papers/v15/srivastava14a.html",
            },
            {
                "title": "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
                "authors": "Sergey Ioffe, Christian Szegedy",
                "year": 2015,
                "url": "https://arxiv.org/abs/1502.03167",
            },
        ],
        "bibtex": (
            "@article{rumelhart1986learning,\n"
            "  title   = {Learning representations by back-propagating errors},\n"
            "  author  = {Rumelhart, David E. and Hinton, Geoffrey E. and Williams, Ronald J.},\n"
            "  journal = {Nature},\n"
            "  volume  = {323},\n"
            "  number  = {6088},\n"
            "  pages   = {533--536},\n"
            "  year    = {1986},\n"
            "  doi     = {10.1038/323533a0}\n"
            "}"
        ),
    },
    "cnn": {
        "display_name": "convolutional neural network",
        "title": "Gradient-based learning applied to document recognition",
        "authors": "Yann LeCun, Léon Bottou, Yoshua Bengio, Patrick Haffner",
        "year": 1998,
        "venue": "Proceedings of the IEEE 86(11), 2278-2324",
        "url": "https://doi.org/10.1109/5.726791",
        "arxiv": None,
        "description": (
            "A convolutional network applies learned filters that share their weights across the image, "
            "so features are detected wherever they appear, interleaved with pooling that makes the "
            "representation progressively coarser and more invariant to small shifts. Fully connected "
            "layers on top map the final feature maps to class scores. The family covers LeNet-5 "
            "(LeCun et al. 1998), VGG-style stacks of 3x3 convolutions (Simonyan & Zisserman 2014) and "
            "ResNet-style stages with identity shortcuts y = phi(F(x) + x) (He et al. 2015)."
        ),
        "intended_use": (
            "Image classification on small images (digits, clothing, small natural images), teaching, "
            "baselines, and as a feature extractor for transfer learning."
        ),
        "limitations": (
            "Trained on one small data set at one resolution: expect poor results on images that differ in "
            "size, colour channels, normalization or content from the training data. Small classic "
            "networks are not competitive with modern architectures on large-scale benchmarks, and the "
            "model is not calibrated or robust to adversarial or out-of-distribution inputs."
        ),
        "related": [
            {
                "title": "Very Deep Convolutional Networks for Large-Scale Image Recognition",
                "authors": "Karen Simonyan, Andrew Zisserman",
                "year": 2014,
                "url": "https://arxiv.org/abs/1409.1556",
            },
            {
                "title": "Deep Residual Learning for Image Recognition",
                "authors": "Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
                "year": 2015,
                "url": "https://arxiv.org/abs/1512.03385",
            },
        ],
        "bibtex": (
            "@article{lecun1998gradient,\n"
            "  title   = {Gradient-based learning applied to document recognition},\n"
            "  author  = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},\n"
            "  journal = {Proceedings of the IEEE},\n"
            "  volume  = {86},\n"
            "  number  = {11},\n"
            "  pages   = {2278--2324},\n"
            "  year    = {1998},\n"
            "  doi     = {10.1109/5.726791}\n"
            "}"
        ),
    },
    "rnn": {
        "display_name": "recurrent neural network",
        "title": "Long Short-Term Memory",
        "authors": "Sepp Hochreiter, Jürgen Schmidhuber",
        "year": 1997,
        "venue": "Neural Computation 9(8), 1735-1780",
        "url": "https://doi.org/10.1162/neco.1997.9.8.1735",
        "arxiv": None,
        "description": (
            "A recurrent network reads a sequence one step at a time and carries a hidden state "
            "h_t = f(x_t, h_{t-1}) that summarises what it has seen. The Elman cell uses one tanh layer; the "
            "LSTM adds a cell state guarded by input, forget and output gates so that gradients survive "
            "over long spans; the GRU (Cho et al. 2014) merges the gates into update and reset gates."
        ),
        "intended_use": (
            "Sequence classification, character- or word-level language modelling and time-series "
            "forecasting on small data sets; teaching how recurrence and gating work."
        ),
        "limitations": (
            "Processing is sequential, so training is slower than attention models on long inputs, and "
            "very long dependencies remain hard to learn. Generated text can be incoherent or reproduce "
            "the training data; it must not be relied on for facts."
        ),
        "related": [
            {
                "title": "Finding Structure in Time",
                "authors": "Jeffrey L. Elman",
                "year": 1990,
                "url": "https://doi.org/10.1207/s15516709cog1402_1",
            },
            {
                "title": "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation",
                "authors": "Kyunghyun Cho et al.",
                "year": 2014,
                "url": "https://arxiv.org/abs/1406.1078",
            },
        ],
        "bibtex": (
            "@article{hochreiter1997long,\n"
            "  title   = {Long Short-Term Memory},\n"
            '  author  = {Hochreiter, Sepp and Schmidhuber, J{\\"u}rgen},\n'
            "  journal = {Neural Computation},\n"
            "  volume  = {9},\n"
            "  number  = {8},\n"
            "  pages   = {1735--1780},\n"
            "  year    = {1997},\n"
            "  doi     = {10.1162/neco.1997.9.8.1735}\n"
            "}"
        ),
    },
    "autoencoder": {
        "display_name": "autoencoder",
        "title": "Reducing the Dimensionality of Data with Neural Networks",
        "authors": "Geoffrey E. Hinton, Ruslan R. Salakhutdinov",
        "year": 2006,
        "venue": "Science 313(5786), 504-507",
        "url": "https://doi.org/10.1126/science.1127647",
        "arxiv": None,
        "description": (
            "An autoencoder is an encoder z = f(x) that compresses the input into a low-dimensional code "
            "and a decoder x_hat = g(z) that reconstructs the input from it; both are trained together to "
            "minimise the reconstruction error. Denoising and sparse variants add input corruption or a "
            "penalty on the code."
        ),
        "intended_use": (
            "Dimensionality reduction, feature extraction (the code), denoising and anomaly scoring by "
            "reconstruction error on data like the training data; teaching representation learning."
        ),
        "limitations": (
            "Reconstructions are blurry and only good for inputs resembling the training data; the code "
            "space is not a generative model (sampling random codes gives poor images). Reconstruction "
            "error is an imperfect anomaly score."
        ),
        "related": [
            {
                "title": "Extracting and Composing Robust Features with Denoising Autoencoders",
                "authors": "Pascal Vincent, Hugo Larochelle, Yoshua Bengio, Pierre-Antoine Manzagol",
                "year": 2008,
                "url": "https://doi.org/10.1145/1390156.1390294",
            },
        ],
        "bibtex": (
            "@article{hinton2006reducing,\n"
            "  title   = {Reducing the Dimensionality of Data with Neural Networks},\n"
            "  author  = {Hinton, Geoffrey E. and Salakhutdinov, Ruslan R.},\n"
            "  journal = {Science},\n"
            "  volume  = {313},\n"
            "  number  = {5786},\n"
            "  pages   = {504--507},\n"
            "  year    = {2006},\n"
            "  doi     = {10.1126/science.1127647}\n"
            "}"
        ),
    },
    "vae": {
        "display_name": "variational autoencoder",
        "title": "Auto-Encoding Variational Bayes",
        "authors": "Diederik P. Kingma, Max Welling",
        "year": 2013,
        "venue": "ICLR 2014",
        "url": "https://arxiv.org/abs/1312.6114",
        "arxiv": "1312.6114",
        "description": (
            "A variational autoencoder is a latent-variable generative model. The encoder outputs the mean "
            "and log-variance of q(z|x), a code is drawn with the reparameterization z = mu + sigma * eps, "
            "and the decoder models p(x|z). Training maximises the evidence lower bound: the expected "
            "reconstruction log-likelihood minus KL(q(z|x) || N(0, I)). Sampling z ~ N(0, I) and decoding "
            "generates new data."
        ),
        "intended_use": (
            "Generating samples like the training data, learning smooth latent spaces for interpolation "
            "and visualisation, and teaching variational inference."
        ),
        "limitations": (
            "Samples are blurrier than those of GANs or diffusion models; the ELBO only bounds the "
            "likelihood; the model reproduces the biases and content of its training data."
        ),
        "related": [
            {
                "title": "Importance Weighted Autoencoders",
                "authors": "Yuri Burda, Roger Grosse, Ruslan Salakhutdinov",
                "year": 2016,
                "url": "https://arxiv.org/abs/1509.00519",
            },
        ],
        "bibtex": (
            "@inproceedings{kingma2014auto,\n"
            "  title     = {Auto-Encoding Variational Bayes},\n"
            "  author    = {Kingma, Diederik P. and Welling, Max},\n"
            "  booktitle = {International Conference on Learning Representations (ICLR)},\n"
            "  year      = {2014},\n"
            "  eprint    = {1312.6114},\n"
            "  archivePrefix = {arXiv}\n"
            "}"
        ),
    },
    "gan": {
        "display_name": "generative adversarial network",
        "title": "Generative Adversarial Nets",
        "authors": (
            "Ian J. Goodfellow, Jean Pouget-Abadie, Mehdi Mirza, Bing Xu, David Warde-Farley, Sherjil Ozair, "
            "Aaron Courville, Yoshua Bengio"
        ),
        "year": 2014,
        "venue": "Advances in Neural Information Processing Systems 27",
        "url": "https://arxiv.org/abs/1406.2661",
        "arxiv": "1406.2661",
        "description": (
            "A generative adversarial network trains two networks against each other: a generator G maps "
            "noise z ~ p(z) to samples G(z), and a discriminator D learns to tell real data from generated "
            "samples. G is trained to fool D (here with the non-saturating loss -log D(G(z))), which at the "
            "optimum makes the generated distribution match the data distribution."
        ),
        "intended_use": "Generating samples like the training data; teaching adversarial training.",
        "limitations": (
            "Training can be unstable and suffer mode collapse (the generator covers only part of the data); "
            "there is no likelihood to evaluate, and the samples reproduce the biases of the training data."
        ),
        "related": [
            {
                "title": "Unsupervised Representation Learning with Deep Convolutional Generative Adversarial "
                         "Networks",
                "authors": "Alec Radford, Luke Metz, Soumith Chintala",
                "year": 2016,
                "url": "https://arxiv.org/abs/1511.06434",
            },
            {
                "title": "Conditional Generative Adversarial Nets",
                "authors": "Mehdi Mirza, Simon Osindero",
                "year": 2014,
                "url": "https://arxiv.org/abs/1411.1784",
            },
        ],
        "bibtex": (
            "@inproceedings{goodfellow2014generative,\n"
            "  title     = {Generative Adversarial Nets},\n"
            "  author    = {Goodfellow, Ian J. and Pouget-Abadie, Jean and Mirza, Mehdi and Xu, Bing and\n"
            "               Warde-Farley, David and Ozair, Sherjil and Courville, Aaron and Bengio, Yoshua},\n"
            "  booktitle = {Advances in Neural Information Processing Systems},\n"
            "  volume    = {27},\n"
            "  year      = {2014},\n"
            "  eprint    = {1406.2661},\n"
            "  archivePrefix = {arXiv}\n"
            "}"
        ),
    },
    "seq2seq": {
        "display_name": "sequence-to-sequence model",
        "title": "Sequence to Sequence Learning with Neural Networks",
        "authors": "Ilya Sutskever, Oriol Vinyals, Quoc V. Le",
        "year": 2014,
        "venue": "Advances in Neural Information Processing Systems 27",
        "url": "https://arxiv.org/abs/1409.3215",
        "arxiv": "1409.3215",
        "description": (
            "A sequence-to-sequence model encodes the source sequence with a recurrent encoder and generates "
            "the target one token at a time with a recurrent decoder conditioned on the encoding. With "
            "attention (Bahdanau et al. 2014) the decoder looks back at every encoder state at each step "
            "instead of relying on a single fixed-size vector."
        ),
        "intended_use": "Small translation and string transduction tasks; teaching encoder-decoder models and attention.",
        "limitations": (
            "Trained on a small corpus: outputs are unreliable outside its vocabulary and domain, long "
            "inputs degrade quality, and translations must not be trusted without review."
        ),
        "related": [
            {
                "title": "Neural Machine Translation by Jointly Learning to Align and Translate",
                "authors": "Dzmitry Bahdanau, Kyunghyun Cho, Yoshua Bengio",
                "year": 2014,
                "url": "https://arxiv.org/abs/1409.0473",
            },
        ],
        "bibtex": (
            "@inproceedings{sutskever2014sequence,\n"
            "  title     = {Sequence to Sequence Learning with Neural Networks},\n"
            "  author    = {Sutskever, Ilya and Vinyals, Oriol and Le, Quoc V.},\n"
            "  booktitle = {Advances in Neural Information Processing Systems},\n"
            "  volume    = {27},\n"
            "  year      = {2014},\n"
            "  eprint    = {1409.3215},\n"
            "  archivePrefix = {arXiv}\n"
            "}"
        ),
    },
    "transformer": {
        "display_name": "Transformer",
        "title": "Attention Is All You Need",
        "authors": (
            "Ashish Vaswani, Noam Shazeer, Niki Parmar, Jakob Uszkoreit, Llion Jones, Aidan N. Gomez, "
            "Łukasz Kaiser, Illia Polosukhin"
        ),
        "year": 2017,
        "venue": "Advances in Neural Information Processing Systems 30",
        "url": "https://arxiv.org/abs/1706.03762",
        "arxiv": "1706.03762",
        "description": (
            "The Transformer replaces recurrence with attention: every position attends to every other with "
            "softmax(Q K^T / sqrt(d_k)) V over several heads, followed by a position-wise feedforward "
            "network, with residual connections and layer normalization around each sublayer. Positional "
            "encodings supply the order of the tokens. Encoder, decoder-only and encoder-decoder variants "
            "serve classification, language modelling and translation."
        ),
        "intended_use": "Small-scale language modelling, classification and translation; teaching attention.",
        "limitations": (
            "A small model trained on a small corpus: generated text can be incoherent, wrong or reproduce "
            "the training data, attention cost grows quadratically with the sequence length, and outputs "
            "must not be relied on for facts."
        ),
        "related": [],
        "bibtex": (
            "@inproceedings{vaswani2017attention,\n"
            "  title     = {Attention Is All You Need},\n"
            "  author    = {Vaswani, Ashish and Shazeer, Noam and Parmar, Niki and Uszkoreit, Jakob and\n"
            "               Jones, Llion and Gomez, Aidan N. and Kaiser, {\\L}ukasz and Polosukhin, Illia},\n"
            "  booktitle = {Advances in Neural Information Processing Systems},\n"
            "  volume    = {30},\n"
            "  year      = {2017},\n"
            "  eprint    = {1706.03762},\n"
            "  archivePrefix = {arXiv}\n"
            "}"
        ),
    },
}

# The Auto class a user loads a checkpoint with, per task (pipeline tag); anything else uses AutoModel.
_AUTO_CLASSES = {
    "image-classification": "AutoModelForImageClassification",
    "text-classification": "AutoModelForSequenceClassification",
    "text-generation": "AutoModelForCausalLM",
    "translation": "AutoModelForSeq2SeqLM",
    "text2text-generation": "AutoModelForSeq2SeqLM",
    "summarization": "AutoModelForSeq2SeqLM",
    "time-series-forecasting": "AutoModelForTimeSeriesPrediction",
}

# Keys whose values are credentials: the whole key, or its last ``_``-separated words, names a secret.
# ``pad_token_id`` or ``max_tokens`` are not secrets and do not match.
_SECRET_KEY = re.compile(
    r"^(?:.*[_\-.])?(?:token|secret|password|passwd|pwd|api[_\-]?key|access[_\-]?key|secret[_\-]?key|"
    r"private[_\-]?key|credentials?|auth|authorization|cookie)$",
    re.IGNORECASE,
)
# Values shaped like access tokens (Hugging Face, GitHub, OpenAI-style, Slack, AWS key ids).
_TOKEN_PATTERN = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|sk-[A-Za-z0-9_\-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16})\b"
)
_REDACTED = "<redacted>"


def _home_path_pattern() -> re.Pattern:
    """Absolute paths under a home folder (this user's, ``/home/<user>``, ``/Users/<user>``, ``/root``)."""
    homes = {re.escape(os.path.expanduser("~").rstrip("/\\"))} - {"", re.escape("~")}
    homes |= {r"/home/[^/\s]+", r"/Users/[^/\s]+", r"/root", r"[A-Za-z]:\\Users\\[^\\\s]+"}
    alternatives = "|".join(sorted(homes, key=len, reverse=True))
    # Not preceded by a character that would make it part of a URL or a longer relative path.
    return re.compile(rf"(?<![\w.:/\\-])(?:{alternatives})(?:[/\\][^\s'\"`)\]|,;<>]*)?")


def _basename(path: str) -> str:
    """The last component of a POSIX or Windows path (``"~"`` for a bare home folder)."""
    stripped = path.rstrip("/\\")
    name = PureWindowsPath(stripped).name if "\\" in stripped else PurePosixPath(stripped).name
    return name or "~"


def _is_absolute_path(value: str) -> bool:
    if "\n" in value or len(value) > 4096:
        return False
    return value.startswith(("/", "~")) or bool(re.match(r"^[A-Za-z]:[\\/]", value))


def _scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replaces known secret values and token-shaped strings by ``<redacted>``, home paths by base names."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    text = _TOKEN_PATTERN.sub(_REDACTED, text)
    return _home_path_pattern().sub(lambda m: _basename(m.group(0)), text)


def _sanitize(value: Any, secrets: set[str]) -> Any:
    """A JSON-friendly copy of ``value`` without secrets (collected into ``secrets``) or absolute paths."""
    if isinstance(value, Mapping):
        clean = {}
        for key, item in value.items():
            key = str(key)
            if _SECRET_KEY.match(key) or (isinstance(item, str) and _TOKEN_PATTERN.fullmatch(item.strip())):
                if isinstance(item, str) and len(item) >= 6:
                    secrets.add(item)
                continue
            clean[key] = _sanitize(item, secrets)
        return clean
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_sanitize(item, secrets) for item in items]
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        if _TOKEN_PATTERN.fullmatch(value.strip()):
            secrets.add(value)
            return _REDACTED
        return _basename(value) if _is_absolute_path(value) else _scrub_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return _sanitize(value.item(), secrets)
        except (TypeError, ValueError, RuntimeError):
            pass
    return _scrub_text(str(value))


def _cell(value: Any) -> str:
    """A Markdown table cell: numbers in their shortest exact form, containers as compact JSON."""
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=isinstance(value, dict))
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _format_metric(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if (abs(value) < 1e-3 or abs(value) >= 1e4) else f"{value:.4f}"


def _metric_type(key: str, split: str) -> str:
    """``eval_accuracy``/``test_accuracy``/``<split>_accuracy`` -> ``accuracy``."""
    key = key.strip()
    for prefix in ("eval_", "test_", f"{split}_"):
        if key.lower().startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :]
    return key


def _metric_display_name(metric_type: str) -> str:
    words = metric_type.replace("_", " ").replace("-", " ").split()
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]]) if words else metric_type


def _check_metrics(metrics: Mapping[str, Any], split: str) -> list[tuple[str, float]]:
    """Validates metrics and returns ``(metric_type, value)`` pairs in the given order."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict of metric name -> number, got {type(metrics).__name__}.")
    pairs: dict[str, tuple[str, float]] = {}
    for key, raw in metrics.items():
        if isinstance(raw, bool) or raw is None:
            raise TypeError(f"metric {key!r} must be a number, got {raw!r}.")
        try:
            item = raw.item() if hasattr(raw, "item") else raw  # numpy / torch scalars
            # Keep ints as ints so that the YAML shows exactly what was measured.
            value = item if isinstance(item, int) and not isinstance(item, bool) else float(item)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"metric {key!r} must be a number, got {raw!r}.") from error
        name = _metric_type(str(key), split)
        if name in pairs:
            raise ValueError(
                f"metrics {pairs[name][0]!r} and {key!r} both name the metric {name!r}; pass only one of them."
            )
        pairs[name] = (str(key), value)
    return [(name, value) for name, (_, value) in pairs.items()]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.strip().lower()).strip("-")


def _picture_ref(picture: Any, root: Path | None) -> tuple[str, str]:
    """``(relative POSIX path, caption)`` for an item of ``pictures`` (a path or a ``(path, caption)`` pair)."""
    if isinstance(picture, (tuple, list)) and len(picture) == 2:
        path, caption = os.fspath(picture[0]), str(picture[1])
    else:
        path, caption = os.fspath(picture), None
    candidate = Path(path)
    if candidate.is_absolute():
        relative = None
        if root is not None:
            try:
                relative = candidate.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                relative = None
        if relative is None:
            logger.warning(
                "Picture %s is not inside the checkpoint folder; the card refers to it as %s, copy it there "
                "so that it travels with the card.",
                _basename(path),
                _basename(path),
            )
        path = relative or candidate.name
    else:
        path = PurePosixPath(path.replace("\\", "/")).as_posix()
    if caption is None:
        stem = PurePosixPath(path).stem.replace("_", " ").replace("-", " ").strip()
        caption = (stem[:1].upper() + stem[1:]) if stem else "Figure"
    return path, caption


def _is_local_path(ref: str) -> bool:
    return _is_absolute_path(ref) or ref.startswith(".") or os.path.isdir(ref)


def _paper_line(entry: Mapping[str, Any]) -> str:
    link = entry.get("url") or (f"https://arxiv.org/abs/{entry['arxiv']}" if entry.get("arxiv") else None)
    title = f"[{entry['title']}]({link})" if link else entry["title"]
    venue = f" {entry['venue']}." if entry.get("venue") else ""
    arxiv = f" arXiv:{entry['arxiv']}." if entry.get("arxiv") else ""
    return f"{entry['authors']} ({entry['year']}). *{title}*.{venue}{arxiv}"


def _usage_snippets(task: str, ref: str) -> str:
    auto = _AUTO_CLASSES.get(task, "AutoModel")
    ref_literal = json.dumps(ref)
    return (
        "With classicnets installed (`pip install classicnets`), the Auto classes know the architecture:\n\n"
        "```python\n"
        "import classicnets  # registers the classicnets architectures with transformers' Auto classes\n"
        f"from transformers import {auto}\n\n"
        f"model = {auto}.from_pretrained({ref_literal})\n"
        "```\n\n"
        "Without classicnets, plain transformers runs the modelling code saved with the checkpoint "
        "(read it first: it executes on your machine):\n\n"
        "```python\n"
        f"from transformers import {auto}\n\n"
        f"model = {auto}.from_pretrained({ref_literal}, trust_remote_code=True)\n"
        "```\n"
    )


def _build(
    root: Path | None,
    *,
    family: str,
    model_name: str,
    task: str,
    dataset_name: str,
    dataset_id: str | None,
    dataset_split: str,
    metrics: Mapping[str, float],
    hyperparameters: Mapping[str, Any],
    config: Mapping[str, Any] | None,
    pictures: Iterable[str | tuple[str, str]],
    base_model: str | None,
    extra_sections: Mapping[str, str] | None,
    tags: Iterable[str],
    repo_id: str | None,
) -> tuple[ModelCard, list[tuple[str, str]]]:
    """Renders the card; returns it with the ``(relative path, caption)`` of each picture."""
    if family not in FAMILIES:
        raise ValueError(f"Unknown family {family!r}; choose one of {sorted(FAMILIES)}.")
    for field, value in (("model_name", model_name), ("dataset_name", dataset_name), ("task", task)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{field} must be a non-empty string, got {value!r}.")
    if not isinstance(hyperparameters, Mapping):
        raise TypeError(f"hyperparameters must be a dict, got {type(hyperparameters).__name__}.")
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict (use config.to_dict()), got {type(config).__name__}.")
    if isinstance(pictures, (str, os.PathLike)):
        pictures = [pictures]
    if isinstance(tags, str):
        tags = [tags]
    info = FAMILIES[family]
    metric_pairs = _check_metrics(metrics, dataset_split)
    secrets: set[str] = set()
    clean_hparams = _sanitize(dict(hyperparameters), secrets)
    clean_config = _sanitize(dict(config), secrets) if config is not None else None

    hub_dataset = dataset_id if dataset_id and not _is_local_path(dataset_id) else None
    dataset_type = hub_dataset or (_basename(dataset_id) if dataset_id else dataset_name)
    hub_base_model = base_model if base_model and not _is_local_path(base_model) else None

    # Metadata. Non-finite values (a diverged run) are shown in the table but kept out of the model-index,
    # which the Hub expects to hold numbers.
    eval_results = [
        EvalResult(
            task_type=task,
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split=dataset_split,
            metric_type=name,
            metric_name=_metric_display_name(name),
            metric_value=value,
        )
        for name, value in metric_pairs
        if math.isfinite(value)
    ]
    all_tags = ["classicnets", family, task, _slug(dataset_name), *(str(tag) for tag in tags)]
    card_data = ModelCardData(
        library_name="classicnets",
        license="apache-2.0",
        pipeline_tag=task,
        tags=[tag for tag in all_tags if tag],
        datasets=[hub_dataset] if hub_dataset else None,
        base_model=hub_base_model,
        model_name=model_name,
        eval_results=eval_results or None,
    )

    # Body.
    display = info["display_name"]
    article = "an" if display[:1].lower() in "aeiou" else "a"
    sections = [f"# {model_name}\n"]
    intro = (
        f"{model_name} is {article} {display} ([classicnets](https://github.com/classicnets/classicnets) "
        f"`{family}` family) trained for {task.replace('-', ' ')} on {dataset_name}."
    )
    if base_model:
        if hub_base_model:
            intro += f" It was fine-tuned from [{base_model}](https://huggingface.co/{base_model})."
        else:
            intro += f" It was fine-tuned from the local checkpoint `{_basename(base_model)}`."
    sections.append(intro + "\n")

    references = [f"- {_paper_line(info)}"] + [f"- {_paper_line(entry)}" for entry in info.get("related", ())]
    sections.append(f"## Model description\n\n{info['description']}\n\nReferences:\n\n" + "\n".join(references) + "\n")
    sections.append(
        "## Intended uses & limitations\n\n"
        f"**Intended use.** {info['intended_use']}\n\n"
        f"**Limitations.** {info['limitations']} This checkpoint was trained on {dataset_name} only; its "
        f"measured quality applies to data like the `{dataset_split}` split of that set.\n"
    )
    data_link = f"[{dataset_name}](https://huggingface.co/datasets/{hub_dataset})" if hub_dataset else dataset_name
    sections.append(
        f"## Training data\n\nThe model was trained on {data_link} and evaluated on its `{dataset_split}` split.\n"
    )
    if clean_hparams:
        rows = "\n".join(f"| {_cell(key)} | {_cell(value)} |" for key, value in clean_hparams.items())
        hparam_text = f"The following hyperparameters were used:\n\n| Hyperparameter | Value |\n|---|---|\n{rows}\n"
    else:
        hparam_text = "No hyperparameters were recorded.\n"
    sections.append(f"## Training procedure\n\n### Hyperparameters\n\n{hparam_text}")

    if metric_pairs:
        rows = "\n".join(
            f"| {_cell(_metric_display_name(name))} | {_format_metric(float(value))} | {_cell(dataset_split)} |"
            for name, value in metric_pairs
        )
        results = f"| Metric | Value | Split |\n|---|---|---|\n{rows}\n"
    else:
        results = "No evaluation results were recorded.\n"
    sections.append(f"## Evaluation results\n\n{results}")

    picture_refs = [_picture_ref(picture, root) for picture in pictures]
    if picture_refs:
        figures = "\n\n".join(f"![{_cell(caption)}]({quote(path)})" for path, caption in picture_refs)
        sections.append(f"## Figures\n\n{figures}\n")

    for heading, text in (extra_sections or {}).items():
        sections.append(f"## {heading}\n\n{str(text).strip()}\n")

    sections.append(f"## How to use\n\n{_usage_snippets(task, repo_id or model_name)}")

    if clean_config is not None:
        config_json = json.dumps(clean_config, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        sections.append(
            "## Configuration\n\n<details>\n<summary>config.json</summary>\n\n"
            f"```json\n{config_json}\n```\n\n</details>\n"
        )

    sections.append(
        "## Citation\n\n"
        "If you use this model, please cite the paper that introduced the architecture:\n\n"
        f"```bibtex\n{info['bibtex']}\n```\n"
    )

    content = f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(sections)
    return ModelCard(_scrub_text(content, secrets)), picture_refs


def build_model_card(
    *,
    family: str,
    model_name: str,
    task: str = "image-classification",
    dataset_name: str,
    dataset_id: str | None,
    dataset_split: str = "test",
    metrics: Mapping[str, float],
    hyperparameters: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    pictures: Iterable[str | tuple[str, str]] = (),
    base_model: str | None = None,
    extra_sections: Mapping[str, str] | None = None,
    tags: Iterable[str] = (),
    repo_id: str | None = None,
) -> ModelCard:
    """Builds the model card of a trained classicnets model.

    Args:
        family: Architecture family, a key of :data:`FAMILIES` (``"mlp"``, ``"cnn"``...).
        model_name: Name of the model, used as the title and as the ``model-index`` name.
        task: Hub task id, used as ``pipeline_tag`` and as the task of every evaluation result.
        dataset_name: Human-readable dataset name (``"MNIST"``).
        dataset_id: Hub dataset id (``"ylecun/mnist"``) or ``None`` when the data has none.
        dataset_split: Split the metrics were measured on.
        metrics: Measured metrics, e.g. ``{"accuracy": 0.99, "loss": 0.03}``. An ``eval_``/``test_``/
            ``<split>_`` prefix is dropped from the metric type (``eval_accuracy`` -> ``accuracy``).
            Non-finite values appear in the table but not in the ``model-index``.
        hyperparameters: Training hyperparameters for the table. Keys naming secrets (``hub_token``,
            ``api_key``...) and token-shaped values are dropped; absolute paths become base names.
        config: The model config as a dict (``config.to_dict()``), shown collapsed as JSON, scrubbed
            like ``hyperparameters``.
        pictures: File names of pictures in the checkpoint folder, or ``(file, caption)`` pairs; the
            caption defaults to the file name (``learning_curves.png`` -> "Learning curves").
        base_model: Hub id of the model this one was fine-tuned from. A local folder is named in the
            text only, since the Hub's ``base_model`` field must be a repo id.
        extra_sections: ``{heading: markdown}`` sections inserted before "How to use".
        tags: Extra Hub tags, added after ``classicnets``, the family, the task and the dataset.
        repo_id: Hub repo id (or folder) shown in the loading snippet; defaults to ``model_name``.

    Returns:
        A ``huggingface_hub.ModelCard``; ``str(card)`` is the ``README.md`` text.

    Raises:
        ValueError: An unknown family, an empty name, or two metrics with the same type.
        TypeError: A metric value that is not a number, or hyperparameters/config that are not dicts.

    Example:
        >>> card = build_model_card(
        ...     family="mlp", model_name="mlp-mnist", dataset_name="MNIST", dataset_id="ylecun/mnist",
        ...     metrics={"accuracy": 0.978}, hyperparameters={"learning_rate": 0.001},
        ... )
        >>> card.data.eval_results[0].metric_value
        0.978
        >>> card.data.library_name
        'classicnets'
    """
    return _build(None, **locals())[0]


def write_model_card(
    output_dir: str | os.PathLike,
    *,
    family: str,
    model_name: str,
    task: str = "image-classification",
    dataset_name: str,
    dataset_id: str | None,
    dataset_split: str = "test",
    metrics: Mapping[str, float],
    hyperparameters: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    pictures: Iterable[str | tuple[str, str]] = (),
    base_model: str | None = None,
    extra_sections: Mapping[str, str] | None = None,
    tags: Iterable[str] = (),
    repo_id: str | None = None,
) -> Path:
    """Builds the model card and writes it atomically to ``<output_dir>/README.md``.

    The card is rendered completely before anything is written, then written under a temporary name and
    renamed, so a failure at any point leaves an existing ``README.md`` exactly as it was.

    Args:
        output_dir: The checkpoint folder (created if missing). Pictures given as absolute paths inside it
            are referenced relative to it; a warning is logged for pictures not (yet) in it.
        family, model_name, task, dataset_name, dataset_id, dataset_split, metrics, hyperparameters,
        config, pictures, base_model, extra_sections, tags, repo_id: As in :func:`build_model_card`.

    Returns:
        The path of the written ``README.md``.

    Example:
        >>> import tempfile
        >>> from huggingface_hub import ModelCard
        >>> path = write_model_card(
        ...     tempfile.mkdtemp(), family="cnn", model_name="lenet5-mnist", dataset_name="MNIST",
        ...     dataset_id="ylecun/mnist", metrics={"accuracy": 0.9912}, hyperparameters={"epochs": 5},
        ... )
        >>> ModelCard.load(path).data.eval_results[0].metric_value
        0.9912
    """
    kwargs = locals()
    root = Path(kwargs.pop("output_dir"))
    card, picture_refs = _build(root, **kwargs)
    for path, _ in picture_refs:
        if not (root / path).is_file():
            logger.warning("The card shows %s, which is not in the checkpoint folder (yet).", path)
    return atomic_write_text(root / "README.md", str(card))


def retarget_usage(card_text: str, repo_id: str, revision: str | None = None) -> str:
    """The card text with its usage snippets loading ``repo_id`` (at ``revision``) instead of what they named.

    A card is written when training ends, before anyone knows the Hub repo it will be pushed to; its "How to
    use" snippets call ``Auto....from_pretrained("<folder or name>")``. :func:`classicnets.hub.push_to_hub`
    rewrites those calls (and only those) in the copy it pushes, adding ``revision=`` for a branch.

    Example:
        >>> card = build_model_card(family="mlp", model_name="mlp-mnist", dataset_name="MNIST", dataset_id=None,
        ...                         metrics={}, hyperparameters={})
        >>> 'from_pretrained("me/mlp-mnist", revision="v2")' in retarget_usage(str(card), "me/mlp-mnist", "v2")
        True
    """
    target = json.dumps(repo_id) + (f", revision={json.dumps(revision)}" if revision else "")
    return re.sub(r'(\bAuto\w+\.from_pretrained\()"(?:[^"\\]|\\.)*"(?:, revision="(?:[^"\\]|\\.)*")?',
                  lambda m: m.group(1) + target, card_text)


__all__ = ["FAMILIES", "build_model_card", "retarget_usage", "write_model_card"]
