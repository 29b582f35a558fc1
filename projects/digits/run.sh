#!/bin/sh
# The train stage: everything the container contract gives us is in MLCI_* variables.
set -eu
echo "digits: training attempt ${MLCI_ATTEMPT:-1} of job ${MLCI_JOB_ID:-local}"
exec python src/train.py
