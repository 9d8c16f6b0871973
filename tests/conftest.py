"""Test-session settings shared by the whole suite: offline Hub, no progress bars."""

import os

# No network here, and tqdm bars ("Loading weights", "Writing model shards") only clutter the logs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
