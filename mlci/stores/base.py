"""What every artifact store provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from mlci.boundary import DEFAULT_MAX_BYTES
from mlci.records import RunRecord


class ArtifactStore(ABC):
    # what a store copies or uploads passes mlci.boundary; open_store sets runner.max_output_size
    max_output_bytes: int = DEFAULT_MAX_BYTES

    def __init__(self, name: str):
        self.name = name

    @abstractmethod
    def publish(self, record: RunRecord, outputs: Path) -> str:
        """Publish `outputs` of `record`'s run completely or not at all; return the artifact URL.

        Publishing the same job again is idempotent: it returns the existing URL.
        """
