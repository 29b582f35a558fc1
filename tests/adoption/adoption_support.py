"""What the adoption test needs that a team would get elsewhere: mlci's wheel on a package index
(served here on 127.0.0.1), and stand-ins for the two images no registry serves here.

The index is PEP 503: /simple/mlci/ lists the wheel and sdist built from this checkout; a project
whose files are not given is redirected to the normal index (PyPI), so dependencies come from where
they always do (tests/workflows gives it a wheelhouse instead, to keep act's run on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import html
import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

REPO = Path(__file__).resolve().parents[2]
UPSTREAM = "https://pypi.org/simple"
SENTINEL = "adoption-sentinel-7f3a"  # planted where secrets live; must never reach an image
BASE_IMAGE = "mlci/python:3.11-bookworm"  # the offline debootstrap base every test machine has

# jenkins-plugin-cli as the controller Dockerfile calls it; like the real one it refuses unknown
# options, and it insists every plugins.txt line is a pinned `id:version` (what --latest false needs).
PLUGIN_CLI = r"""#!/bin/sh
set -eu
[ "$#" -eq 5 ] && [ "$1" = --latest ] && [ "$2" = false ] && [ "$3" = --verbose ] && [ "$4" = --plugin-file ] \
  || { echo "jenkins-plugin-cli stand-in: unexpected arguments: $*" >&2; exit 2; }
mkdir -p /usr/share/jenkins/ref/plugins
n=0
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in ''|'#'*) continue ;; esac
  echo "$line" | grep -Eq '^[a-z0-9][a-z0-9-]*:[0-9][A-Za-z0-9._-]*$' \
    || { echo "plugins.txt: not id:version: $line" >&2; exit 1; }
  echo "$line" > "/usr/share/jenkins/ref/plugins/${line%%:*}.jpi.pinned"
  n=$((n + 1))
done < "$5"
[ "$n" -gt 0 ] || { echo "plugins.txt lists no plugin" >&2; exit 1; }
echo "jenkins-plugin-cli stand-in: $n pinned plugins"
"""

JENKINS_STAND_IN = f"""FROM {BASE_IMAGE}
# jenkins/jenkins:<lts>-jdk17, as far as the controller Dockerfile relies on it: Debian with apt,
# a JDK from Debian, the jenkins user (uid 1000), /usr/share/jenkins/ref and jenkins-plugin-cli.
# (minbase has no man directories, which the JRE's update-alternatives needs)
RUN mkdir -p /usr/share/man/man1 && apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null \\
 && rm -rf /var/lib/apt/lists/* \\
 && useradd --uid 1000 --create-home --home-dir /var/jenkins_home jenkins \\
 && mkdir -p /usr/share/jenkins/ref && chown -R jenkins:jenkins /usr/share/jenkins/ref
COPY jenkins-plugin-cli /usr/local/bin/jenkins-plugin-cli
USER jenkins
"""


def build_wheel(out: Path) -> tuple[Path, Path]:
    """`python -m build` of this checkout: (wheel, sdist)."""
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shutil.rmtree(REPO / "build", ignore_errors=True)  # setuptools' scratch directory
    (wheel,) = out.glob("mlci-*.whl")
    (sdist,) = out.glob("mlci-*.tar.gz")
    return wheel, sdist


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project(filename: str) -> str:
    """The normalized project of a wheel (`name-version-…whl`) or sdist (`name-version.tar.gz`)."""
    stem = filename.removesuffix(".tar.gz")
    return _normalize(stem.split("-")[0] if filename.endswith(".whl") else stem.rsplit("-", 1)[0])


class _Index(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, Path]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in ("/simple", "/simple/"):
            return self._send(200, b'<!DOCTYPE html><html><body><a href="/simple/mlci/">mlci</a></body></html>')
        m = re.fullmatch(r"/simple/([A-Za-z0-9._-]+)/?", path)
        served = {n: p for n, p in sorted(self.files.items()) if m and _project(n) == _normalize(m.group(1))}
        if served:
            links = "".join(
                f'<a href="/files/{html.escape(n)}#sha256={hashlib.sha256(p.read_bytes()).hexdigest()}">{html.escape(n)}</a><br>'
                for n, p in served.items()
            )
            return self._send(200, f"<!DOCTYPE html><html><body>{links}</body></html>".encode())
        if m:  # every project it does not serve: the normal index
            self.send_response(302)
            self.send_header("Location", f"{UPSTREAM}/{_normalize(m.group(1))}/")
            self.end_headers()
            return None
        f = re.fullmatch(r"/files/([A-Za-z0-9._+-]+)", path)
        if f and f.group(1) in self.files:
            return self._send(200, self.files[f.group(1)].read_bytes(), "application/octet-stream")
        return self._send(404, b"not found")

    def _send(self, status: int, body: bytes, kind: str = "text/html") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def package_index(*dists: Path) -> Iterator[str]:
    """A PEP 503 index on 127.0.0.1 serving `dists` (mlci's, and any other project's wheels given);
    yields its /simple/ URL."""
    handler = type("Index", (_Index,), {"files": {d.name: d for d in dists}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def docker(
    *args: str, timeout: int = 900, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def stand_in_images(workdir: Path, prefix: str) -> dict[str, str]:
    """Build the stand-ins (tags derived from their recipe, so later runs reuse them): the Jenkins
    LTS image and the Docker CLI image, whose /usr/local/bin/docker is this machine's docker client."""
    recipe = hashlib.sha256((JENKINS_STAND_IN + PLUGIN_CLI).encode()).hexdigest()[:12]
    jenkins_tag, cli_tag = f"{prefix}/jenkins-stand-in:{recipe}", f"{prefix}/docker-cli-stand-in:{recipe}"
    if docker("image", "inspect", jenkins_tag).returncode != 0:
        ctx = workdir / "jenkins-stand-in"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(JENKINS_STAND_IN)
        (ctx / "jenkins-plugin-cli").write_text(PLUGIN_CLI)
        (ctx / "jenkins-plugin-cli").chmod(0o755)
        built = docker("build", "--network", "host", "-t", jenkins_tag, str(ctx))
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    if docker("image", "inspect", cli_tag).returncode != 0:
        ctx = workdir / "docker-cli-stand-in"
        (ctx / "bin").mkdir(parents=True)
        client = shutil.which("docker")
        assert client, "no docker client on this machine"
        shutil.copy2(Path(client).resolve(), ctx / "bin" / "docker")
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY bin/docker /usr/local/bin/docker\n")
        built = docker("build", "-t", cli_tag, str(ctx))
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return {"JENKINS_IMAGE": jenkins_tag, "DOCKER_CLI_IMAGE": cli_tag}


def layer_paths(image: str, workdir: Path) -> set[str]:
    """Every path in every layer of `image` (docker save → each layer's tar)."""
    import tarfile

    archive = workdir / "image.tar"
    saved = docker("save", "-o", str(archive), image)
    assert saved.returncode == 0, saved.stderr
    paths: set[str] = set()
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if member.name.endswith("layer.tar") or member.name.startswith("blobs/"):
                data = outer.extractfile(member)
                if data is None:
                    continue
                try:
                    with tarfile.open(fileobj=data) as layer:
                        paths.update(layer.getnames())
                except tarfile.ReadError:
                    continue  # a config or manifest blob, not a layer
    archive.unlink()
    return paths


@contextmanager
def local_registry(workdir: Path) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 (engines allow 127.0.0.1 registries over plain HTTP)."""
    import socket
    import time
    import urllib.request

    binary = shutil.which("docker-registry")
    assert binary, "apt-get install docker-registry (scripts/setup.sh --test does)"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = workdir / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {workdir / 'registry-data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("docker-registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def sh(command: str, cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout
