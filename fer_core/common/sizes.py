"""The networks' input size: FER2013's 48x48 grey faces."""

#: the side of a FER2013 face and of every network's input, in pixels
IMAGE_SIZE = 48
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
