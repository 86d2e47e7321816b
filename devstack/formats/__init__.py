"""Pure parsers of Docker's own formats (.dockerignore patterns, image references), below the config so that its
validation can refuse a bad value at load time with the file and key. No I/O beyond reading the file given."""
