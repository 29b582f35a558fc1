"""Docker side of a run: the engine connection, image builds, stage containers, GPU requests."""
