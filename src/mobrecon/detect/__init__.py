"""Finding hands in whole photos: generated composites, a CenterNet-style detector, its
training, decoding and average precision."""
