"""``srbench bench``: score weights files on the benchmark sets, one Ray task per file and set, one MLflow run per
file, and a page comparing them. A file already scored under the same protocol (its SHA-256 and the protocol's
digest, found by MLflow tags) is reused, never scored again."""
