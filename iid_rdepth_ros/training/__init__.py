"""Training: two-stage training loop, its config, losses, feature cache, resume state, DDP."""
