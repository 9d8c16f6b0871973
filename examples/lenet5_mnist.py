"""LeNet-5 on MNIST: the README's recipe over several seeds, reproducing the results in model_cards/cnn.md.

LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, trained on all 60,000 training digits and evaluated on
the official 10,000 test digits: AdamW (decoupled weight decay 0.05), a one-cycle learning-rate schedule
peaking at 5e-3, label smoothing 0.1, random shifts of up to 2 pixels, batch 128, 8 epochs. Each run is
saved as a Hugging Face model folder, loaded back with ``AutoModelForImageClassification`` and evaluated
again; the script prints one JSON line per seed and a summary (mean, standard deviation, minimum).

Run (about 1 minute per seed on two CPU cores):

    python examples/lenet5_mnist.py --seeds 0 1 2

The same run from the command line, for one seed:

    classicnets train cnn --preset lenet5 --dataset mnist --output-dir runs/lenet5-mnist --epochs 8 \
        --learning-rate 5e-3 --lr-scheduler one_cycle --weight-decay 0.05 --label-smoothing 0.1 \
        --augment shift --per-device-train-batch-size 128 --seed 0
"""

from _seeds import main

RECIPE = {"num_train_epochs": 8, "learning_rate": 5e-3, "lr_scheduler_type": "one_cycle", "weight_decay": 0.05,
          "label_smoothing": 0.1, "augment": "shift", "max_shift": 2, "per_device_train_batch_size": 128}

if __name__ == "__main__":
    main(__doc__, "cnn", "mnist", "runs/examples/lenet5-mnist", preset="lenet5", **RECIPE)
