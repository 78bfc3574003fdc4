"""Scoring a model: multi-label metrics, reports, figures, mistakes and the classic baselines."""
