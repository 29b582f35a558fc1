"""The GPU host: doctor, GPU checks, base image, stage caches."""
