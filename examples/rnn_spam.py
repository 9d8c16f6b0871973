"""Spam filtering on SpamAssassin: a recurrent classifier against TF-IDF + logistic regression.

Data: ``spam_assassin`` (6,046 e-mails, 31% spam; subject + body; a seeded stratified 80/20 split: 4,837 train,
1,209 test). Both methods see the same split and are scored on the same 1,209 test e-mails by accuracy and by
precision/recall/F1 of the spam class:

- the baseline: scikit-learn's ``TfidfVectorizer`` (word unigrams and bigrams, sublinear tf, min_df 2) and
  ``LogisticRegression`` (C=10), fitted on the training e-mails;
- the recurrent net: ``classicnets train rnn --dataset spam_assassin`` (a byte-level BPE tokenizer trained on the
  training e-mails, the first ``block_size`` tokens of each, a bidirectional GRU), over several seeds; each saved
  folder is reloaded and evaluated again, and the example fails if that does not reproduce training's numbers.

Run (a few minutes per seed on two CPU cores):

    python examples/rnn_spam.py --seeds 0 1 2

One seed from the command line:

    classicnets train rnn --dataset spam_assassin --output-dir runs/bigru-spam --cell-type gru --hidden-size 128 \
        --config-overrides "bidirectional=true,embedding_size=64,classifier_dropout_prob=0.2" --block-size 256 \
        --epochs 4 --per-device-train-batch-size 32 --learning-rate 2e-3 --lr-scheduler cosine --warmup-ratio 0.05 \
        --max-grad-norm 1.0 --weight-decay 0.01 --seed 0
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from transformers.utils import logging as hf_logging

from classicnets.data import load_dataset
from classicnets.evaluation import evaluate_folder
from classicnets.training import TrainingArguments, run_training

hf_logging.disable_progress_bar()

CONFIG = {"cell_type": "gru", "hidden_size": 128, "bidirectional": True, "embedding_size": 64,
          "classifier_dropout_prob": 0.2}
RECIPE = {"block_size": 256, "num_train_epochs": 4, "per_device_train_batch_size": 32, "learning_rate": 2e-3,
          "lr_scheduler_type": "cosine", "warmup_ratio": 0.05, "max_grad_norm": 1.0, "weight_decay": 0.01}


def scores(predicted, actual) -> dict:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(actual, predicted, average="binary", zero_division=0)
    return {"accuracy": round(accuracy_score(actual, predicted), 4), "precision": round(float(precision), 4),
            "recall": round(float(recall), 4), "f1": round(float(f1), 4)}


def tfidf_baseline(train, test) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    features = vectorizer.fit_transform(train["text"])
    classifier = LogisticRegression(C=10.0, max_iter=2000).fit(features, train["label"])
    return scores(classifier.predict(vectorizer.transform(test["text"])), test["label"])


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output-dir", default="runs/examples/bigru-spam")
    ns = parser.parse_args()
    data = load_dataset("spam_assassin", source="offline")
    results = {"tfidf_logistic_regression": tfidf_baseline(data["train"], data["test"])}
    print(json.dumps(results), flush=True)
    runs = []
    for seed in ns.seeds:
        out = Path(ns.output_dir) / f"seed-{seed}"
        args = TrainingArguments(output_dir=str(out), overwrite_output_dir=True, seed=seed, disable_tqdm=True, **RECIPE)
        metrics = run_training("rnn", "spam_assassin", args, config_overrides=CONFIG, data_source="offline")
        reloaded = evaluate_folder(str(out), "spam_assassin", data_source="offline")
        if not reloaded["matches_training"] or reloaded["accuracy"] != metrics["test_accuracy"]:
            raise RuntimeError(f"{out}: the reloaded model gives {reloaded}, training measured {metrics}")
        runs.append({"seed": seed, **{k: round(metrics[f"test_{k}"], 4) for k in ("accuracy", "precision", "recall", "f1")},
                     "train_runtime_s": metrics["train_runtime"]})
        print(json.dumps(runs[-1]), flush=True)
    accuracies = [r["accuracy"] for r in runs]
    results["rnn"] = {"accuracy_mean": round(statistics.mean(accuracies), 4),
                      "accuracy_std": round(statistics.stdev(accuracies), 4) if len(runs) > 1 else 0.0,
                      "f1_mean": round(statistics.mean(r["f1"] for r in runs), 4), "runs": runs}
    print(json.dumps(results["rnn"]), flush=True)
    return results


if __name__ == "__main__":
    main()
