import sys
from pathlib import Path

import pytest

from shared.synthetic import generate_world

sys.path.insert(0, str(Path(__file__).parent))  # fvit_helpers


@pytest.fixture(scope="session")
def fvit_world(tmp_path_factory):
    return generate_world(tmp_path_factory.mktemp("fvit_world"), seed=0, num_train=32, num_val=12, image_size=128)
