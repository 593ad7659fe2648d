import sys
from pathlib import Path

import pytest

from shared.synthetic import generate_world

sys.path.insert(0, str(Path(__file__).parent))  # fcclip_helpers


@pytest.fixture(scope="session")
def fcclip_world(tmp_path_factory):
    return generate_world(tmp_path_factory.mktemp("fcclip_world"), seed=0, num_train=32, num_val=12, image_size=128)
