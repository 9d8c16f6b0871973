"""The ``classicnets`` command line: ``train``, ``evaluate``, ``sample``, ``push`` and ``data``.

Thin by design: it parses flags and calls ``classicnets.training.run_training``, ``classicnets.loading`` and
``classicnets.data``. Flags follow transformers/accelerate habits (``--output-dir``, ``--seed``,
``--per-device-train-batch-size``, ``--resume-from-checkpoint latest``...); every flag also accepts the
underscore spelling used by transformers' example scripts.

Examples:
    classicnets train cnn --preset lenet5 --dataset mnist --output-dir runs/lenet5-mnist
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 -m classicnets train cnn ...
    classicnets evaluate runs/lenet5-mnist --dataset mnist
    classicnets train vae --preset burda --dataset mnist --output-dir runs/vae-mnist --importance-samples 1000
    classicnets train autoencoder --dataset mnist --output-dir runs/dae --config-overrides "corruption=masking"
    classicnets train gan --preset conditional --dataset mnist --output-dir runs/cgan-mnist --max-steps 3000
    classicnets sample runs/cgan-mnist --labels 7 --num-samples 20 --output sevens.png
    classicnets push runs/lenet5-mnist --repo-id me/lenet5-mnist
    classicnets train cnn --init-from me/lenet5-mnist --freeze-backbone --dataset fashion_mnist --output-dir runs/ft
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .training.arguments import AUGMENTATIONS, BEST_MODEL_METRICS, MIXED_PRECISION, OPTIMIZERS, REPORT_TO, SCHEDULERS

ARCHS = ("mlp", "cnn", "rnn", "autoencoder", "vae", "gan")
DATASET_NAMES = ("mnist", "fashion_mnist", "digits")  # the image datasets (mlp, cnn)
SEQUENCE_DATASET_NAMES = ("tiny_shakespeare", "moby_dick", "spam_assassin", "sunspots_monthly")  # rnn
# Every named dataset, for `train` and `data list/prepare` (kept in step with classicnets.data.DATASETS by a test;
# the registry itself is not imported here so that `--help` stays fast).
ALL_DATASET_NAMES = DATASET_NAMES + SEQUENCE_DATASET_NAMES


def _add(parser, flag: str, **kwargs):
    """Adds ``--a-b`` with its ``--a_b`` alias."""
    names = [flag] + ([flag.replace("-", "_").replace("__", "--", 1)] if "-" in flag[2:] else [])
    parser.add_argument(*names, **kwargs)


def _parse_overrides(text: str) -> dict:
    """``"hidden_sizes=[500,300],hidden_act=tanh"`` -> dict (values parsed as JSON when they parse)."""
    out, depth, key, buf = {}, 0, None, ""
    for ch in text + ",":
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            if "=" not in buf:
                raise ValueError(f"--config-overrides: {buf!r} is not KEY=VALUE.")
            key, value = buf.split("=", 1)
            try:
                out[key.strip()] = json.loads(value.replace("(", "[").replace(")", "]"))
            except json.JSONDecodeError:
                out[key.strip()] = value.strip()
            buf = ""
        else:
            buf += ch
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classicnets",
        description="Train, evaluate and prepare data for the classic deep-learning architectures as Hugging Face "
                    "models. `classicnets COMMAND --help` explains each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,sample,push,data}")

    # ------------------------------------------------------------------ train
    t = sub.add_parser(
        "train", help="train a model on a named dataset and save it as a Hugging Face model folder",
        description="Train ARCH on --dataset under Accelerate; save the model, image processor, model card, "
                    "learning curves and metrics in --output-dir. Run it as `classicnets train ...`, "
                    "`python -m classicnets train ...` or `accelerate launch -m classicnets train ...`. Two "
                    "data-parallel CPU processes: `ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu "
                    "--num_processes 2 -m classicnets train ...`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    t.add_argument("arch", choices=ARCHS,
                   help="architecture family: mlp (multilayer perceptron) or cnn (LeNet/VGG/ResNet-style) for image "
                        "datasets; rnn (RNN/LSTM/GRU) for text and time series: a language model on tiny_shakespeare "
                        "or moby_dick, a classifier on spam_assassin, a forecaster on sunspots_monthly; autoencoder "
                        "(dense/conv, denoising, sparse, tied) or vae (variational autoencoder) for image datasets; "
                        "gan (MLP GAN, DCGAN, class-conditional GAN) learns to generate the images of mnist or "
                        "fashion_mnist")
    g = t.add_argument_group("run")
    _add(g, "--output-dir", required=True, help="folder for the model, card, plots and checkpoints/")
    _add(g, "--overwrite-output-dir", action="store_true", help="replace a previous classicnets run in --output-dir")
    _add(g, "--seed", type=int, default=42, help="seed for initialisation, data order, dropout, augmentation")
    g = t.add_argument_group("data and model")
    _add(g, "--dataset", required=True, choices=ALL_DATASET_NAMES, help="named dataset (see `classicnets data list`)")
    _add(g, "--data-source", default="auto", choices=("auto", "offline", "hub"),
         help="auto: the Hub when reachable, else the pinned offline source")
    _add(g, "--preset", default=None,
         choices=("lenet5", "vgg_style", "resnet_style", "hinton_salakhutdinov", "burda", "kingma_welling", "mlp",
                  "dcgan", "conditional"),
         help="named config: cnn lenet5 (LeCun et al. 1998), vgg_style, resnet_style; autoencoder "
              "hinton_salakhutdinov (784-1000-500-250-30, Science 2006); vae burda (784-200-200-50 tanh, IWAE paper) "
              "or kingma_welling (500 tanh units, AEVB paper); gan mlp (Goodfellow et al. 2014), dcgan (Radford et "
              "al. 2016), conditional (a class-conditional DCGAN, Mirza & Osindero 2014)")
    _add(g, "--hidden-sizes", type=int, nargs="+", default=None,
         help="MLP: widths of the hidden layers; CNN: channels of each conv stage")
    _add(g, "--hidden-act", default=None,
         help="activation: sigmoid, tanh, relu, leaky_relu, elu, gelu, silu, softplus, identity")
    _add(g, "--normalization", default=None, help="none, batch, layer (and group for cnn)")
    _add(g, "--hidden-dropout-prob", type=float, default=None, help="dropout after hidden layers")
    _add(g, "--pooling", default=None, help="cnn: pooling after each stage: max, avg or none")
    _add(g, "--cell-type", default=None, choices=("rnn", "lstm", "gru"), help="rnn: the recurrent cell (default lstm)")
    _add(g, "--hidden-size", type=int, default=None, help="rnn: width of the recurrent state (default 128)")
    _add(g, "--num-layers", type=int, default=None, help="rnn: stacked recurrent layers (default 1)")
    _add(g, "--block-size", type=int, default=None,
         help="rnn: tokens per language-model window (default 128), tokens kept per text (classifier, 256), or past "
              "values read (forecaster, 132)")
    _add(g, "--tokenizer", default=None, choices=("char", "bpe"),
         help="rnn on text: char (language-model default) or byte-level bpe (classifier default)")
    _add(g, "--tokenizer-vocab-size", type=int, default=8000, help="vocabulary size of a bpe tokenizer")
    _add(g, "--latent-size", type=int, default=None,
         help="autoencoder, vae, gan: units of the code h / dimension of z (defaults 32 / 20 / 100)")
    _add(g, "--binarize", default=None, choices=("dynamic", "fixed", "none"),
         help="vae: binarize training images anew each time they are seen (dynamic; the default for the Bernoulli "
              "decoder), once with --seed (fixed), or not (none; the Gaussian decoder's default). Test images are "
              "binarized once with a fixed seed unless none")
    _add(g, "--importance-samples", type=int, default=None, metavar="K",
         help="vae: samples per test image of the importance-sampled negative log-likelihood measured at the end "
              "(default 100; 0 skips it; published results use 1000 or 5000)")
    _add(g, "--config-overrides", default=None,
         help='any config field, e.g. "fc_hidden_sizes=[120,84],residual=true" or, for an autoencoder, '
              '"corruption=masking,corruption_level=0.3,sparsity=l1,reconstruction_loss=bce"')
    g = t.add_argument_group("optimisation")
    g.add_argument("--epochs", "--num-train-epochs", "--num_train_epochs", type=float, default=3.0,
                   dest="num_train_epochs", help="passes over the training set (ignored when --max-steps > 0)")
    _add(g, "--max-steps", type=int, default=-1, help="optimizer updates; overrides --epochs when > 0")
    _add(g, "--per-device-train-batch-size", type=int, default=128, help="examples per process and step")
    g.add_argument("--learning-rate", "--learning_rate", "--lr", type=float, default=None,
                   help="peak learning rate (default 1e-3; 2e-4 for gan, as in DCGAN)")
    _add(g, "--optimizer", default="adamw", choices=OPTIMIZERS,
         help="adamw (decoupled weight decay), adam, sgd (with --momentum/--nesterov) or rmsprop")
    _add(g, "--weight-decay", type=float, default=0.0,
         help="decoupled weight decay (adamw) or L2 weight decay (others); biases and norms are not decayed")
    _add(g, "--momentum", type=float, default=0.9, help="momentum of sgd and rmsprop")
    _add(g, "--nesterov", action="store_true", help="use Nesterov momentum with --optimizer sgd")
    g.add_argument("--lr-scheduler-type", "--lr_scheduler_type", "--lr-scheduler", "--scheduler", default="linear",
                   choices=SCHEDULERS, dest="lr_scheduler_type", help="learning-rate schedule over the optimizer updates")
    _add(g, "--warmup-ratio", type=float, default=0.0, help="fraction of updates for warm-up")
    _add(g, "--gradient-accumulation-steps", type=int, default=1, help="batches per optimizer update")
    _add(g, "--max-grad-norm", type=float, default=0.0, help="clip the global gradient norm to this value (0: off)")
    _add(g, "--mixed-precision", default="no", choices=MIXED_PRECISION,
         help="fp16 needs a GPU; bf16 on CPU is slow and warned")
    _add(g, "--torch-compile", action="store_true", help="compile the model (opt-in; slower for LeNet on CPU)")
    g = t.add_argument_group("regularization")
    _add(g, "--l1-lambda", type=float, default=0.0, help="L1 penalty weight on weights")
    _add(g, "--l2-lambda", type=float, default=0.0, help="explicit L2 penalty weight (lambda/2 ||w||^2)")
    _add(g, "--label-smoothing", type=float, default=0.0, help="label smoothing epsilon")
    _add(g, "--augment", default="none", choices=AUGMENTATIONS, help="random shifts (and rotations) of training images")
    _add(g, "--max-shift", type=int, default=2, help="largest shift in pixels")
    _add(g, "--max-rotation", type=float, default=10.0, help="largest rotation in degrees (shift_rotate)")
    _add(g, "--validation-split", type=float, default=0.0, help="fraction of train held out for validation")
    _add(g, "--early-stopping-patience", type=int, default=None,
         help="stop after N evaluations without improvement on the validation split (restores the best weights)")
    _add(g, "--metric-for-best-model", default="eval_loss", choices=BEST_MODEL_METRICS,
         help="what early stopping watches (the task must report it)")
    g = t.add_argument_group("evaluation, checkpoints, logging")
    _add(g, "--eval-steps", type=int, default=None, help="evaluate every N updates; None: at the end of every epoch")
    _add(g, "--save-steps", type=int, default=None, help="checkpoint every N updates; None: at the end of every epoch")
    _add(g, "--save-total-limit", type=int, default=2, help="keep the newest N checkpoints")
    _add(g, "--logging-steps", type=int, default=50, help="log the training loss every N updates")
    _add(g, "--resume-from-checkpoint", default=None, help="'latest' or a checkpoint folder")
    _add(g, "--report-to", default="none", choices=REPORT_TO, help="tensorboard logs under OUTPUT_DIR/logs")
    _add(g, "--classes", type=int, nargs="+", default=None, metavar="ID",
         help="keep only these label ids of the dataset (train and test), e.g. 0 1 2 3 4 for a transfer split")
    _add(g, "--train-subset", type=int, default=None, help="train on N examples only (quick runs)")
    _add(g, "--eval-subset", type=int, default=None, help="evaluate on the first N test examples only")
    _add(g, "--disable-tqdm", action="store_true", help="hide the progress bar (e.g. in CI logs)")
    _add(g, "--log-gradient-norms", type=int, default=None, metavar="N",
         help="every N updates record each layer's gradient norm (and, for rnn, the gradient reaching each time "
              "step at the start and end of training); saved as gradient_norms.json and PNG plots")
    g = t.add_argument_group("GAN evaluation (no downloads)")
    _add(g, "--num-eval-samples", type=int, default=None,
         help="gan: samples (and as many test images) for the final Frechet distance (default 10000)")
    _add(g, "--reference-classifier", default=None, metavar="DIR",
         help="gan: a classifier folder whose penultimate-layer features measure the Frechet distance (default: "
              "the library's own LeNet-5 for the dataset, trained once and cached)")
    g = t.add_argument_group("transfer learning")
    _add(g, "--init-from", default=None, metavar="DIR_OR_REPO_ID",
         help="start from a pretrained checkpoint of the same architecture (a folder or a Hub repo id); its output "
              "layer is replaced when the dataset's labels differ")
    _add(g, "--init-from-revision", default=None, help="branch, tag or commit of an --init-from Hub repo")
    _add(g, "--freeze-backbone", action="store_true", help="train only the output layer (a linear probe)")
    _add(g, "--freeze-up-to", default=None, metavar="BLOCK",
         help="freeze the trunk from the input up to and including BLOCK (e.g. cnn.stages.1)")
    _add(g, "--backbone-lr-scale", type=float, default=1.0,
         help="learning rate of the pretrained trunk relative to --learning-rate")
    _add(g, "--layer-decay", type=float, default=None,
         help="block k before the head trains at --learning-rate * LAYER_DECAY**k (discriminative fine-tuning)")
    g = t.add_argument_group("sharing on the Hub")
    _add(g, "--push-to-hub", action="store_true", help="push the finished model folder to the Hub")
    _add(g, "--hub-model-id", default=None, help="NAMESPACE/NAME of the repo (default: the name of --output-dir)")
    _add(g, "--hub-token", default=None, help="write token (default: HF_TOKEN or `hf auth login`); never saved")
    _add(g, "--hub-private-repo", action="store_true", default=None, help="create the repo as private")
    _add(g, "--hub-revision", default=None, help="branch to push to (created from main when missing)")

    # ------------------------------------------------------------------ evaluate
    e = sub.add_parser(
        "evaluate", help="load a saved model folder with the transformers Auto class and evaluate it",
        description="Load MODEL_DIR with the transformers Auto class of its task (in this process) and print its "
                    "metrics on a dataset split as JSON (accuracy and loss of a classifier, nats per token of a "
                    "language model, MAE/RMSE of a forecaster), with what training measured when the folder "
                    "records it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument("model_dir", help="a folder written by `classicnets train` or save_pretrained, or a Hub repo id")
    _add(e, "--revision", default=None, help="branch, tag or commit of a Hub repo (default: its main branch)")
    _add(e, "--dataset", default=None, choices=ALL_DATASET_NAMES,
         help="named dataset to evaluate on; None: the one a `classicnets train` folder records")
    _add(e, "--split", default=None, choices=("train", "validation", "test"),
         help="dataset split to evaluate on; None: test (or the held-out split of a dataset without one)")
    _add(e, "--batch-size", type=int, default=1000, help="examples per forward pass (memory, not results)")
    _add(e, "--data-source", default="auto", choices=("auto", "offline", "hub"), help="where the data comes from")
    _add(e, "--trust-remote-code", action="store_true",
         help="allow the folder's own model code to run (only needed without classicnets installed)")

    # ------------------------------------------------------------------ sample
    s = sub.add_parser(
        "sample", help="draw images from a saved GAN folder into a PNG grid",
        description="Load MODEL_DIR (a `classicnets train gan` folder or Hub repo) with transformers' AutoModel and "
                    "write NUM_SAMPLES images drawn with a seeded generator as one PNG grid; the same seed gives the "
                    "same images.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    s.add_argument("model_dir", help="a folder written by `classicnets train gan`, or a Hub repo id")
    _add(s, "--output", required=True, help="the PNG file to write (atomically)")
    _add(s, "--num-samples", type=int, default=100, help="how many images to draw")
    _add(s, "--labels", type=int, nargs="+", default=None, metavar="ID",
         help="conditional GANs only: one class id for every image, or one per image; default: the classes in turn")
    _add(s, "--seed", type=int, default=0, help="seed of the generator that draws the latents z")
    _add(s, "--ncol", type=int, default=10, help="images per row of the grid")
    _add(s, "--revision", default=None, help="branch, tag or commit of a Hub repo")
    _add(s, "--trust-remote-code", action="store_true",
         help="allow the folder's own model code to run (only needed without classicnets installed)")

    # ------------------------------------------------------------------ push
    p = sub.add_parser(
        "push", help="push a saved model folder to the Hugging Face Hub",
        description="Create the Hub repo if needed and upload the whole model folder (weights, config, image "
                    "processor, the model's code, model card and pictures) in one commit. Resumable training states "
                    "(checkpoints/) stay local. Set HF_ENDPOINT for another Hub server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model_dir", help="a folder written by `classicnets train` or save_pretrained, with a README.md card")
    _add(p, "--repo-id", required=True, help="NAMESPACE/NAME of the repo (NAME alone: the token owner's namespace)")
    _add(p, "--revision", default=None, help="branch to push to (created from main when missing)")
    _add(p, "--private", action="store_true", default=None,
         help="create the repo as private (an existing public repo is refused, never pushed to)")
    _add(p, "--commit-message", default=None, help="message of the commit")
    _add(p, "--token", default=None, help="write token (default: HF_TOKEN or `hf auth login`)")

    # ------------------------------------------------------------------ data
    d = sub.add_parser("data", help="list or prepare the named datasets")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="{list,prepare}")
    dsub.add_parser("list", help="list the named datasets and their sources")
    p = dsub.add_parser("prepare", help="fetch (pinned, hash-checked) and cache datasets; a no-op once cached")
    p.add_argument("names", nargs="+", choices=ALL_DATASET_NAMES, help="names of the datasets to fetch and convert")
    return parser


def _train(ns) -> int:
    from .training import TrainingArguments, run_training

    overrides = _parse_overrides(ns.config_overrides) if ns.config_overrides else {}
    for flag in ("hidden_sizes", "hidden_act", "normalization", "hidden_dropout_prob", "pooling", "cell_type",
                 "hidden_size", "num_layers", "latent_size"):
        value = getattr(ns, flag)
        if value is not None:
            overrides[flag] = tuple(value) if isinstance(value, list) else value
    if ns.learning_rate is None:
        ns.learning_rate = 2e-4 if ns.arch == "gan" else 1e-3
    extra = {k: getattr(ns, k) for k in ("reference_classifier", "num_eval_samples") if getattr(ns, k) is not None}
    if extra and ns.arch != "gan":
        raise ValueError(f"{', '.join('--' + k.replace('_', '-') for k in extra)}: GAN evaluation flags; drop them "
                         f"for {ns.arch}.")
    fields = TrainingArguments.__dataclass_fields__
    args = TrainingArguments(**{k: tuple(v) if isinstance(v, list) else v for k, v in vars(ns).items() if k in fields})
    args.extra = extra
    metrics = run_training(ns.arch, ns.dataset, args, preset=ns.preset, config_overrides=overrides,
                           data_source=ns.data_source)
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(json.dumps(metrics, indent=2))
        print(f"Saved the model, card and plots in {args.output_dir}")
    return 0


def _evaluate(ns) -> int:
    from .evaluation import evaluate_folder, recorded_dataset
    from .hub import resolve_checkpoint
    from .loading import check_checkpoint_folder

    folder = resolve_checkpoint(ns.model_dir, revision=ns.revision)
    check_checkpoint_folder(folder)  # "not a checkpoint" before "which dataset?"
    dataset = ns.dataset or recorded_dataset(folder)
    if dataset is None:
        raise ValueError(f"{ns.model_dir} does not record the dataset it was trained on; pass --dataset NAME.")
    from .data import DATASETS

    splits = DATASETS[dataset].splits if dataset in DATASETS else ("test",)
    split = ns.split or ("test" if "test" in splits else splits[-1])
    metrics = evaluate_folder(folder, dataset, split=split, batch_size=ns.batch_size,
                              data_source=ns.data_source, trust_remote_code=ns.trust_remote_code)
    metrics["model"] = ns.model_dir + (f"@{ns.revision}" if ns.revision else "")  # as given, not the cache path
    print(json.dumps(metrics, indent=2))
    return 0


def _sample(ns) -> int:
    from pathlib import Path

    import torch
    from transformers import AutoModel

    from .hub import resolve_checkpoint
    from .loading import load_pretrained
    from .plots import plot_image_grid

    if ns.num_samples < 1 or ns.ncol < 1:
        raise ValueError(f"--num-samples and --ncol must be >= 1, got {ns.num_samples} and {ns.ncol}.")
    folder = resolve_checkpoint(ns.model_dir, revision=ns.revision)
    config_file = Path(folder) / "config.json"
    model_type = json.loads(config_file.read_text()).get("model_type") if config_file.is_file() else None
    if model_type == "classicnets_vae":
        raise ValueError(f"{ns.model_dir} is a VAE; `classicnets sample` draws from GAN folders. Draw from a VAE in "
                         f"Python: AutoModel.from_pretrained(folder).sample(n, generator=...) (the decoder's mean images).")
    model = load_pretrained(folder, AutoModel, expected_model_type="classicnets_gan",
                            trust_remote_code=ns.trust_remote_code).eval()
    labels = ns.labels
    if labels is not None and not model.config.conditional:
        raise ValueError(f"{ns.model_dir} is an unconditional GAN: it cannot be asked for classes. Drop --labels "
                         f"(or train a class-conditional one with `classicnets train gan --preset conditional`).")
    if labels is not None and len(labels) == 1:
        labels = labels[0]  # one class for every image
    images = model.sample(ns.num_samples, labels=labels, generator=torch.Generator().manual_seed(ns.seed))
    path = plot_image_grid((images + 1) / 2, ns.output, ncol=ns.ncol)
    print(json.dumps({"model": ns.model_dir, "output": str(path), "num_samples": ns.num_samples, "seed": ns.seed}))
    return 0


def _push(ns) -> int:
    from .hub import push_to_hub

    url = push_to_hub(ns.model_dir, ns.repo_id, token=ns.token, private=ns.private, revision=ns.revision,
                      commit_message=ns.commit_message)
    print(url)  # the commit; classicnets.hub logged what was sent
    return 0


def _data(ns) -> int:
    from .data import DATASETS, prepare
    from .data.loading import ALL_NUM_ROWS
    from .data.sources import OFFLINE_SOURCES
    from .data.text_sources import OFFLINE_SOURCES as TEXT_OFFLINE_SOURCES
    from .data.text_sources import TEXT_NUM_CHARS

    if ns.data_command == "list":
        offline = {**OFFLINE_SOURCES, **TEXT_OFFLINE_SOURCES}
        print(f"{'name':17s} {'task':24s} {'example':27s} {'size per split':47s} {'hub (when reachable)':30s} "
              f"offline source")
        for name, spec in DATASETS.items():
            # A language-modelling corpus is one row per split: its size is its length in characters.
            counts, unit = (TEXT_NUM_CHARS[name], " chars") if name in TEXT_NUM_CHARS else (ALL_NUM_ROWS[name], "")
            size = ", ".join(f"{split} {n:,}{unit}" for split, n in counts.items())
            print(f"{name:17s} {spec.task:24s} {spec.summary:27s} {size:47s} {spec.hub_id or '-':30s} {offline[name]}")
        return 0
    for name, path in prepare(ns.names).items():
        print(f"{name}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``classicnets`` and ``python -m classicnets``; returns the exit status."""
    ns = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2", "httpcore", "huggingface_hub", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # One progress bar (training) is enough: hide transformers' "Loading weights" / "Writing model shards" bars.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        return {"train": _train, "evaluate": _evaluate, "sample": _sample, "push": _push, "data": _data}[ns.command](ns)
    except (ValueError, RuntimeError, OSError) as err:  # OSError: missing files, Hub and network errors
        print(f"classicnets {ns.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        _close_process_group()


def _close_process_group() -> None:
    """Shuts the distributed process group (of an `accelerate launch` run) down before the interpreter exits.

    Left to interpreter finalisation, Gloo's worker threads can still hold work that needs the GIL and a rank dies
    with SIGABRT ("terminate called without an active exception") after training has finished and saved.
    """
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        from accelerate import PartialState

        PartialState().destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
