"""A tiny hand-built ``ADEChallengeData2016`` tree (images, semantic PNGs, instance PNGs) for the ADE20K tests."""
import numpy as np
from PIL import Image

H, W = 40, 56
# semantic labels (1-based ADE) and categories (0-based); person = instance class 4, car = instance class 9
WALL, FLOOR, SKY, GRASS, PERSON, CAR = 1, 4, 3, 10, 13, 21


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _image(root, split, stem, h=H, w=W):
    p = root / "images" / split / f"{stem}.jpg"
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (90, 120, 150)).save(p)


def _inst(h=H, w=W):
    return np.zeros((h, w, 3), np.uint8)


def build_tree(tmp_path):
    """Two training images, one validation image (all 40×56)."""
    root = tmp_path / "ADEChallengeData2016"
    # train A: wall over floor, two persons (instances 1, 2), a person area without instance, an "other" patch
    sem = np.full((H, W), WALL, np.uint8)
    sem[20:] = FLOOR
    sem[0:5, 0:5] = PERSON          # person in the semantic map, no instance → void
    sem[10:30, 10:20] = PERSON      # instance 1
    sem[10:30, 30:40] = PERSON      # instance 2 covers cols 30..41: 2 extra columns over wall / floor
    sem[35:40, 50:56] = 0           # "other" → void / 255
    inst = _inst()
    inst[10:30, 10:20] = (4, 1, 0)
    inst[10:30, 30:42] = (4, 2, 0)
    inst[0:3, 50:56] = (7, 0, 0)    # R without G: no instance
    _image(root, "training", "ADE_train_00000001")
    _png(root / "annotations/training/ADE_train_00000001.png", sem)
    _png(root / "annotations_instance/training/ADE_train_00000001.png", inst)
    # train B: sky, a grass patch entirely covered by a car instance
    sem = np.full((H, W), SKY, np.uint8)
    sem[0:10, 0:10] = GRASS
    inst = _inst()
    inst[0:10, 0:10] = (9, 1, 0)
    _image(root, "training", "ADE_train_00000002")
    _png(root / "annotations/training/ADE_train_00000002.png", sem)
    _png(root / "annotations_instance/training/ADE_train_00000002.png", inst)
    # val: wall left, floor right, no instance
    sem = np.full((H, W), WALL, np.uint8)
    sem[:, 28:] = FLOOR
    _image(root, "validation", "ADE_val_00000001")
    _png(root / "annotations/validation/ADE_val_00000001.png", sem)
    _png(root / "annotations_instance/validation/ADE_val_00000001.png", _inst())
    return root
