"""Training loop, regularization, checkpoints and the CLI."""
