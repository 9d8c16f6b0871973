"""Model families. Each sub-folder is self-contained so that it can travel inside a checkpoint."""
