"""The monolith's catalogues (departments, positions, locations), served from the cache."""
