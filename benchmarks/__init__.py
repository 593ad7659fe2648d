"""Speed / memory scripts (``python benchmarks/<name>.py``); they print numbers, they assert nothing."""
