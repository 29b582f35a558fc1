"""Publishing a run: the stores (local, S3, Hugging Face Hub), the image registry, the one publishing path."""
