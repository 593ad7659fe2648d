"""FC-CLIP's geometric ensemble of the in-vocabulary and out-of-vocabulary classifiers."""
from __future__ import annotations

import torch


def seen_classes(test_names: list[str], train_names: list[str]) -> torch.Tensor:
    """(K,) bool: a test class is "seen" when one of its synonyms equals one of any training class (exact,
    case-sensitive, after splitting on commas — the reference's rule)."""
    train = {s.strip() for n in train_names for s in n.split(",") if s.strip()}
    return torch.tensor([any(s.strip() in train for s in n.split(",")) for n in test_names])


def geometric_ensemble(logits_in: torch.Tensor, logits_out: torch.Tensor, seen: torch.Tensor, alpha: float,
                       beta: float) -> torch.Tensor:
    """Final class probabilities (…, K+1), void last.

    logits_in: (…, K+1) in-vocabulary logits (void last); logits_out: (…, K) out-of-vocabulary logits.
    p_in, p_out = softmax over the K real classes; s = p_in^(1−α)·p_out^α for seen classes, β for unseen;
    p(c) = softmax(log s)(c)·(1 − p_void) with p_void the void probability of softmax(logits_in).
    """
    k = logits_out.shape[-1]
    if logits_in.shape[-1] != k + 1 or seen.shape[-1] != k:
        raise ValueError(f"shapes: logits_in {tuple(logits_in.shape)}, logits_out {tuple(logits_out.shape)}, "
                         f"seen {tuple(seen.shape)}")
    log_in = logits_in[..., :k].log_softmax(-1)
    log_out = logits_out.log_softmax(-1)
    w = torch.where(seen.to(logits_in.device), torch.tensor(alpha), torch.tensor(beta)).to(log_in)
    mixed = ((1 - w) * log_in + w * log_out).softmax(-1)
    p_void = logits_in.softmax(-1)[..., -1:]
    return torch.cat([mixed * (1 - p_void), p_void], dim=-1)
