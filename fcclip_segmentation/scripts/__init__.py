"""Command-line checks around the FC-CLIP adapter (run as ``python -m fcclip_segmentation.scripts.NAME``)."""
