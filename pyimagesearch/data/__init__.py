"""Data sets: finding and decoding images, caching, manifests, feature tables, labels, splits and augmentation."""
