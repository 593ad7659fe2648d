import pytest

from shared.synthetic import generate_world


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return generate_world(tmp_path_factory.mktemp("world"), seed=0, num_train=16, num_val=6, image_size=128)
