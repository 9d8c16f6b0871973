"""Model tests: one folder per architecture, all built on ``testing_utils.ModelTesterMixin``."""

import pytest

# The mixin's asserts live outside test modules: have pytest rewrite them too, for readable failures.
pytest.register_assert_rewrite(f"{__name__}.testing_utils")
