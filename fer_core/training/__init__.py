"""Training: architectures, the training loop, distillation and export."""
