"""Multi-label image classification with Keras 3: data, models, training and inference."""
