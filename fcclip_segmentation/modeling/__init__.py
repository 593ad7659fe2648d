"""FC-CLIP model pieces: position compensation, class heads, ensemble, post-processing, criterion, the model."""
