"""FC-CLIP datasets (panoptic, semantic-only), vocabularies from class-name files and categories, and the
evaluation-set registry."""
from .dataset import PanopticDataset, SemanticSegDataset, collate, read_class_names, read_label_map
from .registry import EVAL_DATASETS, EvalDataset, dataset_overrides
from .vocabulary import (assign_class_names, check_training_classes, read_categories,
                         training_class_names, training_thing_flags)

__all__ = ["EVAL_DATASETS", "EvalDataset", "PanopticDataset", "SemanticSegDataset", "assign_class_names",
           "check_training_classes", "collate", "dataset_overrides", "read_categories", "read_class_names",
           "read_label_map", "training_class_names", "training_thing_flags"]
