"""Building a labelled data set from the web: image-search providers, fetching, the folders' records."""
