"""The monorepo manifest (mlci.yaml), project settings (project.yaml) and project discovery."""

from mlci.manifest.loader import ProjectSpec, find_root, load_all, load_manifest, load_project, project_names
from mlci.manifest.project import Project
from mlci.manifest.schema import Manifest

__all__ = [
    "Manifest",
    "Project",
    "ProjectSpec",
    "find_root",
    "load_all",
    "load_manifest",
    "load_project",
    "project_names",
]
