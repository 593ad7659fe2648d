"""Crash-safe writes: the umask decides the mode even when the writer replaces our temporary file (safetensors), a
full disk names the file and leaves the old one intact, stale temporaries are found below an output folder."""
import errno
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from shared.io import atomic_path, atomic_write_text, remove_stale_temporaries


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_a_writer_that_replaces_the_temporary_file_keeps_the_umask_mode(tmp_path, umask, mode):
    """safetensors >= 0.6 writes its own 0600 temporary file and renames it onto the path it is given."""
    old = os.umask(umask)
    try:
        save_file({"w": torch.ones(2)}, str(tmp_path / "plain.safetensors"))
        with atomic_path(tmp_path / "model.safetensors") as tmp:
            save_file({"w": torch.ones(2)}, str(tmp))
    finally:
        os.umask(old)
    assert (tmp_path / "plain.safetensors").stat().st_mode & 0o777 == 0o600  # the library's own mode, any umask
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == mode
    assert load_file(str(tmp_path / "model.safetensors"))["w"].tolist() == [1.0, 1.0]


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "last.pt"
    atomic_write_text(target, "old")

    class Full:  # the disk fills after 100 bytes; torch.save hides that under its own RuntimeError
        def __init__(self):
            self.n = 0

        def write(self, b):
            self.n += len(b)
            if self.n > 100:
                raise OSError(errno.ENOSPC, "No space left on device")
            return len(b)

        def flush(self):
            pass

    with pytest.raises(OSError) as e:
        with atomic_path(target):
            torch.save({"w": torch.zeros(1000)}, Full())
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert e.value.strerror == "No space left on device (last.pt left as it was)"
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_stale_temporaries_below_an_output_folder(tmp_path):
    ours = [tmp_path / ".metrics.json.abcdefgh.tmp", tmp_path / "panoptic" / ".1.png.k2_9xq7a.tmp"]
    deeper = tmp_path / "a" / "b" / ".x.json.abcdefgh.tmp"
    others = [tmp_path / "panoptic" / ".1.png.tmp", tmp_path / "panoptic" / "1.png"]
    for p in ours + others + [deeper]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    assert remove_stale_temporaries(tmp_path) == [ours[0]]  # depth 0: the folder itself
    assert sorted(remove_stale_temporaries(tmp_path, depth=1)) == [ours[1]]
    assert all(p.exists() for p in others + [deeper])
