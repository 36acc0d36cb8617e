"""FER2013: loading and validating the data set, its parse cache and the explorer's statistics."""
