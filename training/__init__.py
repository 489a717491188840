"""Fine-tuning code and configs (installed as ``clinnlp.training``)."""
