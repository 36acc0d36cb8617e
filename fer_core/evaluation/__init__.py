"""Evaluation: accuracy, TTA selection, robustness and speed benchmarks."""
