"""One training engine for detection and segmentation (torchrun/DDP, AMP, clip, schedule, checkpoints, resume)."""
from .checkpoint import (CheckpointError, PartialCheckpoint, check_state_dict_compatible, load_checkpoint,
                         load_state_dict_file, save_checkpoint)
from .config import ConfigError, config_to_dict, load_config, save_config
from .distributed import DistInfo, all_gather_objects, all_reduce_sum, barrier, init_distributed, seed_everything
from .sampler import ResumableBatchSampler
from .schedule import build_scheduler, scale_lr, warmup_step_lambda
from .train_config import TrainConfig
from .trainer import Trainer, TrainingInterrupted

__all__ = [
    "CheckpointError", "PartialCheckpoint", "check_state_dict_compatible", "load_checkpoint", "load_state_dict_file",
    "save_checkpoint", "ConfigError",
    "config_to_dict", "load_config", "save_config", "DistInfo", "all_gather_objects", "all_reduce_sum", "barrier",
    "init_distributed", "seed_everything", "ResumableBatchSampler", "build_scheduler", "scale_lr",
    "warmup_step_lambda", "TrainConfig", "Trainer", "TrainingInterrupted",
]
