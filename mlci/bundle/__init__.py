"""Offline edge bundles: one archive that carries a published model version to a device without
registry or store access — the serving image (`docker save`), the model files, a manifest and a
POSIX start script — and a verifier that checks such an archive without Docker.

manifest.py     the typed manifest.json (schemaVersion, what is inside, how to start it)
start_script.py the start.sh a device runs
members.py      the member rules (safe names, types, bounds) and hashing streams
image_archive.py what makes a `docker save` archive valid, checked while it streams
source.py       the version, its model files and its image, resolved before anything is written
write.py        the archive, written to a temporary file and renamed into place
verify.py       `mlci bundle --verify`: every member and every recorded digest, without Docker
"""
