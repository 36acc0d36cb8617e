"""The drivers that run the pipeline on inputs: a photo, a video, a live stream, a batch of files."""
