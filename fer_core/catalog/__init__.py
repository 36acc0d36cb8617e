"""The catalogue of models: model folders, their metadata, stored evaluations and comparisons."""
