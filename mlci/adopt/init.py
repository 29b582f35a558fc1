"""`mlci init`: adopt mlci in an existing Git repository of any shape.

Writes a commented mlci.yaml (name from the directory, repository.url from `origin`, the running mlci
pinned), one runnable example project, the root Jenkinsfile and a `.mlci/` entry in .gitignore.
Nothing that exists is overwritten unless `force`; every conflict is named before anything is written.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mlci import __version__
from mlci.adopt.scaffold import scaffold
from mlci.atomic import write_text_atomic
from mlci.errors import UsageError
from mlci.git import git_or_none
from mlci.manifest.fields import REF_RE, URL_RE
from mlci.manifest.loader import MANIFEST_FILE, PROJECTS_DIR, validate_source
from mlci.manifest.schema import Manifest, is_ssh_url
from mlci.manifest.yamlsource import parse_yaml
from mlci.render.templating import render_template

EXAMPLE = "example"
GITIGNORE_ENTRY = ".mlci/"


@dataclass
class InitResult:
    root: Path
    written: list[str] = field(default_factory=list)
    repository_url: str | None = None
    next_steps: list[str] = field(default_factory=list)


def git_toplevel(start: Path) -> Path:
    out = git_or_none(start, "rev-parse", "--show-toplevel")
    if out is None:
        raise UsageError(f"{start} is not inside a Git repository", hint="run `git init` (or clone your repo) first")
    return Path(out).resolve()


def project_name(directory: Path) -> str:
    """The directory's name as a manifest name: lowercase, dashes for anything else, at most 63 chars."""
    name = re.sub(r"[^a-z0-9-]+", "-", directory.name.lower()).strip("-")[:63].strip("-")
    return name or "monorepo"


def origin_url(root: Path) -> str | None:
    """`origin`'s URL without any user:password (a token must never land in mlci.yaml); None if unusable."""
    url = git_or_none(root, "remote", "get-url", "origin")
    if not url:
        return None
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and (parts.username or parts.password):
            url = urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))
    return url if re.fullmatch(URL_RE, url) else None


def current_branch(root: Path) -> str:
    """The checked-out branch (the library and releases follow it); `main` when detached or odd."""
    branch = git_or_none(root, "symbolic-ref", "--quiet", "--short", "HEAD") or "main"
    return branch if re.fullmatch(REF_RE, branch) else "main"


def manifest_text(name: str, url: str | None, branch: str = "main") -> str:
    """The commented mlci.yaml; values are JSON strings (valid YAML scalars) so none can inject a key."""
    q = json.dumps
    if url is None:
        repo = (
            "# repository:                     # the URL Jenkins clones (no `origin` remote was found)\n"
            "#   url: https://github.com/acme/ml.git\n"
            "#   credentials: GITHUB_TOKEN       # secret name of a token that can read it\n"
        )
    elif is_ssh_url(url):
        repo = (
            "repository:\n"
            f"  url: {q(url)}\n"
            f"  branch: {q(branch)}\n"
            "  ssh_key: GIT_SSH_KEY             # secret: a private key that can read the repository\n"
            "  host_key_policy: known_hosts     # or accept_first (trust the Git server on first use)\n"
            "  known_hosts: GIT_KNOWN_HOSTS     # secret: `ssh-keyscan <git host>` output\n"
        )
    else:
        repo = (
            "repository:\n"
            f"  url: {q(url)}\n"
            f"  branch: {q(branch)}\n"
            "  credentials: GITHUB_TOKEN        # secret name of a token that can read the repository\n"
        )
    return (
        "# mlci's manifest: every key is documented in mlci's README (\"The manifest: mlci.yaml\").\n"
        "# Secrets are always NAMES (UPPER_SNAKE_CASE); their values live in Ansible Vault, the\n"
        "# environment or Jenkins credentials — never in this file.\n"
        "version: 1\n"
        f"name: {q(name)}\n"
        "# The exact mlci every machine installs (controller image, agents, CI); `mlci validate` warns\n"
        "# when yours differs. Add index_url: to install from a private mirror.\n"
        f"mlci: {{version: {q(__version__)}}}\n"
        f"{repo}"
        "# hosts:                            # your GPU servers; exactly one runs the controller\n"
        "#   - {name: gpu-01, address: 192.0.2.10, ssh_user: ubuntu, gpus: 2, roles: [controller, agent]}\n"
        "jenkins:\n"
        "  # url: https://jenkins.internal.example/   # your internal Jenkins URL (build links)\n"
        "  bind: 127.0.0.1                   # reach the UI through an SSH tunnel (see README)\n"
        f"  library: {{version: {q(branch)}, path: jenkins/library}}   # rendered here by `mlci render`\n"
        "# webhook:                          # releases reach Jenkins through frp; its own public name\n"
        "#   frp: {server: frps.example.com, port: 7000, token: FRP_TOKEN, custom_domain: hooks.example.com}\n"
        "portainer: {bind: 127.0.0.1, port: 9443, admin_password: PORTAINER_ADMIN_PASSWORD}\n"
        "build:\n"
        "  base_image: mlci/python:3.11-bookworm   # built by `mlci base-image build` (Ansible does it on hosts)\n"
        "artifacts:\n"
        "  default: local\n"
        "  stores:\n"
        "    local: {type: local, path: .mlci/artifacts}\n"
    )


def init(start: Path, *, force: bool = False) -> InitResult:
    root = git_toplevel(start)
    url = origin_url(root)
    manifest = manifest_text(project_name(root), url, current_branch(root))
    # Checked before writing: init must never write a manifest that mlci itself rejects.
    validate_source(parse_yaml(manifest, MANIFEST_FILE), Manifest)

    targets = {MANIFEST_FILE: root / MANIFEST_FILE, "Jenkinsfile": root / "Jenkinsfile"}
    example = root / PROJECTS_DIR / EXAMPLE
    existing = [rel for rel, path in targets.items() if path.exists() or path.is_symlink()]
    if example.exists() or example.is_symlink():
        existing.append(f"{PROJECTS_DIR}/{EXAMPLE}/")
    if existing and not force:
        raise UsageError(
            f"would overwrite {', '.join(existing)}",
            hint="mlci init never replaces files — move them away, or pass --force to replace them",
        )
    for rel, path in targets.items():
        if path.is_symlink() or path.is_dir():
            raise UsageError(f"{rel} is a link or a directory", hint="remove it, then rerun mlci init")

    result = InitResult(root=root, repository_url=url)
    write_text_atomic(targets[MANIFEST_FILE], manifest, mode=0o644, fsync=False)
    result.written.append(MANIFEST_FILE)
    write_text_atomic(targets["Jenkinsfile"], render_template("Jenkinsfile.j2"), mode=0o644, fsync=False)
    result.written.append("Jenkinsfile")

    if example.exists() and not example.is_symlink():
        shutil.rmtree(example)  # --force, checked above
    elif example.is_symlink():
        example.unlink()
    scaffold(root, EXAMPLE)
    result.written.append(f"{PROJECTS_DIR}/{EXAMPLE}/")
    if _ensure_gitignored(root / ".gitignore"):
        result.written.append(".gitignore")
    result.next_steps = [
        f"try the example on this machine: `mlci base-image build` once, then `mlci run {EXAMPLE}`",
        "describe your servers in mlci.yaml (hosts:, jenkins.url, webhook:), then `mlci validate && mlci render`"
        " and commit everything it wrote",
        'create the secrets it names (README: "Secrets and credentials") and provision:'
        " `ansible-playbook -i ansible/inventory.yml ansible/site.yml`",
    ]
    return result


def _ensure_gitignored(path: Path) -> bool:
    """Append `.mlci/` unless an existing line already ignores it; never rewrites other lines."""
    if path.is_symlink():
        raise UsageError(".gitignore is a link", hint="replace it with a file, then rerun mlci init")
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(line.strip() in (".mlci", ".mlci/", "/.mlci", "/.mlci/") for line in current.splitlines()):
        return False
    prefix = "" if not current or current.endswith("\n") else "\n"
    write_text_atomic(path, f"{current}{prefix}# mlci's run records and artifacts\n{GITIGNORE_ENTRY}\n", mode=0o644)
    return True
