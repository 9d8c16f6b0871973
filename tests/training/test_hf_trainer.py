"""classicnets models train with ``transformers.Trainer`` too: they follow the ``forward(..., labels) -> loss``
contract and need nothing from classicnets' own loop."""

import numpy as np
import pytest
import torch
import transformers

from classicnets import MLPConfig, MLPForImageClassification
from classicnets.data import DATASETS, image_tensors, load_dataset


class PixelDataset(torch.utils.data.Dataset):
    """Standardised ``pixel_values`` and ``labels``, one example per item, as transformers.Trainer expects."""

    def __init__(self, split, spec):
        images, self.labels = image_tensors(split)
        self.pixels = (images.float() / 255 - spec.mean[0]) / spec.std[0]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i], "labels": self.labels[i]}


@pytest.mark.slow
def test_transformers_trainer_trains_an_mlp_on_digits(tmp_path):
    spec = DATASETS["digits"]
    splits = load_dataset("digits", source="offline")
    train, test = PixelDataset(splits["train"], spec), PixelDataset(splits["test"], spec)
    transformers.set_seed(0)
    model = MLPForImageClassification(MLPConfig(image_size=8, hidden_sizes=(64,), num_labels=10))
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=15, per_device_train_batch_size=32, learning_rate=3e-3,
        lr_scheduler_type="linear", save_strategy="no", report_to="none", use_cpu=True, seed=0,
        disable_tqdm=True, logging_strategy="no",
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train)
    trainer.train()
    prediction = trainer.predict(test)
    accuracy = float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())
    # Chance is 10%; a 64-unit MLP trained this way classifies ~97% of the 450 held-out digits.
    assert accuracy >= 0.95, accuracy
    # Trainer's loss is the model's own cross-entropy of the logits.
    logits = torch.from_numpy(prediction.predictions)
    expected = torch.nn.functional.cross_entropy(logits, torch.from_numpy(prediction.label_ids)).item()
    assert prediction.metrics["test_loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_trainer_gradient_accumulation_matches_one_big_batch(arch, tmp_path):
    """4 examples x 2 accumulated batches make the same update as one batch of 8 (the loss is a batch mean)."""
    from classicnets import CNNConfig, CNNForImageClassification

    spec = DATASETS["digits"]
    data = torch.utils.data.Subset(PixelDataset(load_dataset("digits", source="offline")["train"], spec), range(8))
    updates = []
    for batch_size, accumulation in ((8, 1), (4, 2)):
        torch.manual_seed(0)
        if arch == "mlp":
            model = MLPForImageClassification(MLPConfig(image_size=8, hidden_sizes=(16,), num_labels=10))
        else:
            model = CNNForImageClassification(CNNConfig(image_size=8, hidden_sizes=(4,), depths=(1,), kernel_sizes=(3,),
                                                        paddings=(1,), fc_hidden_sizes=(8,), num_labels=10))
        before = model.classifier.weight.detach().clone()
        args = transformers.TrainingArguments(
            output_dir=str(tmp_path / f"{arch}{accumulation}"), max_steps=1, use_cpu=True, optim="sgd",
            per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation, learning_rate=0.1,
            lr_scheduler_type="constant", save_strategy="no", max_grad_norm=0.0,  # clipping would hide a wrong scale
            report_to="none", disable_tqdm=True, seed=0,
        )
        transformers.Trainer(model=model, args=args, train_dataset=data).train()
        updates.append(model.classifier.weight.detach() - before)
    assert updates[0].abs().max() > 1e-3
    torch.testing.assert_close(updates[1], updates[0], rtol=1e-4, atol=1e-6)
