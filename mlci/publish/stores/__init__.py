"""Artifact stores: where a run's outputs are published. One module per store type.

Client libraries (boto3, huggingface_hub) are imported only when their store is opened, so
`mlci` works without the extras until a manifest asks for such a store.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mlci import secrets
from mlci.errors import UsageError
from mlci.manifest.schema import Manifest, Store
from mlci.publish.stores.base import ArtifactStore
from mlci.publish.stores.huggingface import HubStore
from mlci.publish.stores.local import LocalStore
from mlci.publish.stores.s3 import S3Store, make_client

_EXTRAS = {"s3": ("boto3", "mlci[s3]"), "huggingface": ("huggingface_hub", "mlci[hub]")}


def open_store(manifest: Manifest, name: str | None, root: Path) -> ArtifactStore:
    """The store called `name` in mlci.yaml (default: artifacts.default), ready to publish."""
    store = _open(manifest, name, root)
    store.max_output_bytes = manifest.runner.max_output_size
    return store


def _open(manifest: Manifest, name: str | None, root: Path) -> ArtifactStore:
    name = name or manifest.artifacts.default
    config = manifest.artifacts.stores.get(name)
    if config is None:
        choices = ", ".join(sorted(manifest.artifacts.stores))
        raise UsageError(f"no artifact store '{name}' in mlci.yaml", hint=f"use one of: {choices}")
    if config.type == "local":
        return LocalStore(name, root / config.path)  # absolute paths stay absolute
    _require_library(config.type, name)
    if config.type == "s3":
        return _open_s3(name, config)
    if config.type == "huggingface":
        return _open_hub(name, config)
    raise UsageError(f"store type '{config.type}' ({name}) is not supported by this mlci build")


def _require_library(store_type: str, name: str) -> None:
    module, extra = _EXTRAS[store_type]
    if importlib.util.find_spec(module) is None:
        raise UsageError(
            f"store '{name}' is of type {store_type}, which needs the Python package {module}",
            hint=f"pip install '{extra}'",
        )


def _open_s3(name: str, config: Store) -> ArtifactStore:
    purpose = f"artifacts.stores.{name}"
    key_id = secrets.resolve(config.access_key_id, purpose=purpose) if config.access_key_id else None
    secret = secrets.resolve(config.secret_access_key, purpose=purpose) if config.secret_access_key else None
    if bool(key_id) != bool(secret):
        raise UsageError(
            f"artifacts.stores.{name}: set both access_key_id and secret_access_key, or neither",
            hint="name both secrets in mlci.yaml, or leave both out to use the AWS default credentials",
        )
    client = make_client(
        endpoint_url=config.endpoint_url, region=config.region, access_key_id=key_id, secret_access_key=secret
    )
    return S3Store(name, client, config.bucket or "", config.prefix or "")


def _open_hub(name: str, config: Store) -> ArtifactStore:
    from huggingface_hub import HfApi  # an optional extra (mlci[hub]): imported only when a Hub store is opened

    token = secrets.resolve(config.token, purpose=f"artifacts.stores.{name}.token") if config.token else None
    api = HfApi(endpoint=config.endpoint, token=token or False, library_name="mlci")
    return HubStore(name, api, config.repo or "", repo_type=config.repo_type, private=config.private)
