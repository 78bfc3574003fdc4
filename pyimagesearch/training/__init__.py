"""Training: the pipeline from a data set to the model files, its callbacks, health checks and hardware choices."""
