"""Inference: the per-frame carrier of faces and its stages (detect, classify, track, neutral baseline, temporal average), models on LiteRT, drawing and the row schema."""
