"""FC-CLIP datasets (panoptic, semantic-only), class-name files and the evaluation-set registry."""
from .dataset import (PanopticDataset, SemanticSegDataset, assign_class_names, collate, read_class_names,
                      read_label_map)
from .registry import EVAL_DATASETS, EvalDataset, dataset_overrides

__all__ = ["EVAL_DATASETS", "EvalDataset", "PanopticDataset", "SemanticSegDataset", "assign_class_names", "collate",
           "dataset_overrides", "read_class_names", "read_label_map"]
