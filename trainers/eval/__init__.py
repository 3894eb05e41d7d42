"""Scoring as deployed: generation and labels, label-constrained decoding, baselines,
abstention and the learning curve."""
