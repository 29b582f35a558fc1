"""Which mlci every rendered install uses, and how pip gets it (controller image, agents, ci.yml).

One pinned version (`mlci.version` in mlci.yaml; the running mlci when the manifest pins none),
from one source: `mlci.index_url`, else `build.pip_index_url`, else pip's default index.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlci import __version__
from mlci.manifest.schema import Manifest

STORE_EXTRAS = {"s3": "s3", "huggingface": "hub"}  # store type → the mlci extra its client needs


@dataclass(frozen=True)
class Distribution:
    version: str
    index_url: str | None
    from_checkout: bool  # mlci's own repository installs its source

    def requirement(self, extras: list[str]) -> str:
        extra = f"[{','.join(extras)}]" if extras else ""
        return f"mlci{extra}=={self.version}"

    @property
    def wheel(self) -> str:
        """The wheel's file name (mlci.source: checkout: Ansible builds it and copies it to jenkins/)."""
        return f"mlci-{self.version}-py3-none-any.whl"

    def index_args(self) -> list[str]:
        return ["--index-url", self.index_url] if self.index_url else []


def distribution(manifest: Manifest) -> Distribution:
    pin = manifest.mlci
    return Distribution(
        version=pin.version if pin else __version__,
        index_url=(pin.index_url if pin and pin.index_url else None) or manifest.build.pip_index_url,
        from_checkout=bool(pin and pin.source == "checkout"),
    )


def controller_extras(manifest: Manifest) -> list[str]:
    """The controller runs `mlci publish/trigger`: the clients of every configured store, and Jenkins'."""
    extras = {STORE_EXTRAS[s.type] for s in manifest.artifacts.stores.values() if s.type in STORE_EXTRAS}
    if manifest.dashboard.enabled:  # the dashboard service runs on the controller's image
        extras.add("dashboard")
    return sorted(extras | {"jenkins"} | set(agent_extras(manifest)))


def agent_extras(manifest: Manifest) -> list[str]:
    """What every machine that runs `mlci run` needs beyond mlci: the MLflow client when runs are tracked."""
    return ["mlflow"] if manifest.tracking.mlflow is not None else []


def version_warning(manifest: Manifest) -> str | None:
    """`mlci validate`'s warning when the running mlci is not the pinned one (or nothing is pinned)."""
    if manifest.mlci is None:
        return (
            f"mlci.yaml pins no mlci version — add `mlci: {{version: {__version__}}}` so every machine"
            " installs the same mlci"
        )
    if manifest.mlci.version != __version__:
        return (
            f"mlci.yaml pins mlci {manifest.mlci.version} but this is mlci {__version__} — install"
            f" `mlci=={manifest.mlci.version}`, or change the pin and run `mlci render`"
        )
    return None
