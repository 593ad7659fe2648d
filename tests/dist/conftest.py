import pytest

from shared.synthetic import generate_world


@pytest.fixture(scope="session")
def dist_world(tmp_path_factory):
    return generate_world(tmp_path_factory.mktemp("dist_world"), seed=0, num_train=16, num_val=4, image_size=128)
