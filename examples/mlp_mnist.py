"""A two-hidden-layer MLP (800-800, ReLU) on MNIST over several seeds, reproducing model_cards/mlp.md.

A 784-800-800-10 network (the MNIST tables' 800-unit MLP, Simard et al. 2003: 1.6% test error with one hidden
layer, here with two), trained on all 60,000 training digits and evaluated on the official 10,000 test digits, with the
regularizers of the textbook: dropout 0.2 after each hidden layer, AdamW weight decay 0.05, label smoothing
0.1 and random shifts of up to 2 pixels; one-cycle learning rate peaking at 1e-3, batch 128, 10 epochs. Each
run is saved as a Hugging Face model folder, reloaded with ``AutoModelForImageClassification`` and evaluated
again; the script prints one JSON line per seed and a summary (mean, standard deviation, minimum).

Run (about 75 seconds per seed on two CPU cores):

    python examples/mlp_mnist.py --seeds 0 1 2

The same run from the command line, for one seed:

    classicnets train mlp --dataset mnist --output-dir runs/mlp-mnist --hidden-sizes 800 800 \
        --hidden-dropout-prob 0.2 --epochs 10 --learning-rate 1e-3 --lr-scheduler one_cycle \
        --weight-decay 0.05 --label-smoothing 0.1 --augment shift --per-device-train-batch-size 128 --seed 0
"""

from _seeds import main

CONFIG = {"hidden_sizes": (800, 800), "hidden_act": "relu", "hidden_dropout_prob": 0.2}
RECIPE = {"num_train_epochs": 10, "learning_rate": 1e-3, "lr_scheduler_type": "one_cycle", "weight_decay": 0.05,
          "label_smoothing": 0.1, "augment": "shift", "max_shift": 2, "per_device_train_batch_size": 128}

if __name__ == "__main__":
    main(__doc__, "mlp", "mnist", "runs/examples/mlp-mnist", config_overrides=CONFIG, **RECIPE)
