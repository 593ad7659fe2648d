"""F-ViT model pieces: adapters, RPN, RoI heads, score fusion, losses, the detector."""
