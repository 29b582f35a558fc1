"""jenkins.plugins: the controller image's plugins behind a proxy, from a mirror, or air-gapped.

The rendered jenkins/install-plugins.sh runs here under the real /bin/sh with a stand-in for
jenkins-plugin-cli on PATH that records its arguments and environment (the real tool needs the
update center, which is not reachable here). What the tool does with them is upstream's:
--jenkins-update-center / --jenkins-plugin-info override JENKINS_UC / the default plugin-versions.json,
JENKINS_UC_DOWNLOAD_URL replaces the download URL (plugin-installation-manager-tool README, "CLI
Options" and PluginManager.getPluginDownloadUrl), and its HTTP client takes the proxy from Java's
properties only (PluginManager.getHttpClient: HttpClients.custom().useSystemProperties()), which the
image's jenkins-plugin-cli passes from $JAVA_OPTS (jenkinsci/docker jenkins-plugin-cli.sh, reproduced
below with a stand-in `java`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from render_support import SCENARIOS, by_path

from mlci.errors import ConfigError
from mlci.render import plan

# Records what the tool was given, as JSON lines: argv, JAVA_OPTS, JENKINS_UC_DOWNLOAD_URL.
PLUGIN_CLI = """#!/bin/sh
python3 -c 'import json, os, sys; print(json.dumps({"argv": sys.argv[1:], "java_opts": os.environ.get("JAVA_OPTS"),
  "download_url": os.environ.get("JENKINS_UC_DOWNLOAD_URL")}))' "$@" >> "$CALLS"
"""
# jenkinsci/docker's jenkins-plugin-cli.sh (the pinned image's), with `java` a stand-in printing its argv.
UPSTREAM_WRAPPER = """#!/bin/bash
read -r -a java_opts_array <<<"$JAVA_OPTS"
exec java "${java_opts_array[@]}" -jar /opt/jenkins-plugin-manager.jar "$@"
"""
JAVA = """#!/bin/sh
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$CALLS"
"""
PROXY_ENV = {
    "HTTP_PROXY": "http://proxy.corp.example:3128",
    "HTTPS_PROXY": "http://proxy.corp.example:3129/",
    "NO_PROXY": "localhost,127.0.0.1,.corp.example,10.0.0.0/8",
}


def _render(tmp_path: Path, scenario: str, plugins: dict | None = None) -> dict[str, str]:
    root = tmp_path / "repo"
    shutil.copytree(SCENARIOS / scenario, root, ignore=shutil.ignore_patterns("expected"))
    if plugins is not None:
        data = yaml.safe_load((root / "mlci.yaml").read_text())
        data.setdefault("jenkins", {})["plugins"] = plugins
        (root / "mlci.yaml").write_text(yaml.safe_dump(data))
    return {path: f.content for path, f in by_path(plan(root)).items()}


def _install(tmp_path: Path, files: dict[str, str], env: dict[str, str], *, real_wrapper: bool = False):
    """Run the rendered install-plugins.sh as the Dockerfile does, with $REF in tmp_path."""
    ref, bin_dir = tmp_path / "ref", tmp_path / "bin"
    (ref / "plugins").mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    (ref / "plugins.txt").write_text(files["jenkins/plugins.txt"])
    script = tmp_path / "install-plugins.sh"
    script.write_text(files["jenkins/install-plugins.sh"])
    tools = (
        {"jenkins-plugin-cli": UPSTREAM_WRAPPER, "java": JAVA} if real_wrapper else {"jenkins-plugin-cli": PLUGIN_CLI}
    )
    for name, text in tools.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    calls.unlink(missing_ok=True)
    full_env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "REF": str(ref), "CALLS": str(calls), **env}
    done = subprocess.run(["sh", str(script)], env=full_env, capture_output=True, text=True, timeout=60)
    recorded = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return done, recorded


def test_without_settings_the_tool_gets_the_pinned_file_and_nothing_else(tmp_path: Path) -> None:
    done, calls = _install(tmp_path, _render(tmp_path, "one-host"), {})
    assert done.returncode == 0, done.stderr
    ref = tmp_path / "ref"
    assert calls == [
        {
            "argv": ["--latest", "false", "--verbose", "--plugin-file", f"{ref}/plugins.txt"],
            "java_opts": "",
            "download_url": None,
        }
    ]


def test_proxy_build_arguments_become_java_proxy_properties(tmp_path: Path) -> None:
    files = _render(tmp_path, "one-host")
    done, calls = _install(tmp_path, files, PROXY_ENV)
    assert done.returncode == 0, done.stderr
    assert calls[0]["java_opts"] == (
        "-Dhttp.proxyHost=proxy.corp.example -Dhttp.proxyPort=3128"
        " -Dhttps.proxyHost=proxy.corp.example -Dhttps.proxyPort=3129"
        " -Dhttp.nonProxyHosts=localhost|127.0.0.1|*.corp.example"
    )
    assert "NO_PROXY entry 10.0.0.0/8 left out" in done.stderr
    # lower-case variables (what many hosts set) work the same; a port defaults by scheme
    done, calls = _install(tmp_path, files, {"https_proxy": "https://[2001:db8::1]"})
    assert done.returncode == 0, done.stderr
    assert calls[0]["java_opts"] == "-Dhttps.proxyHost=2001:db8::1 -Dhttps.proxyPort=443"


def test_the_image_wrapper_hands_each_property_to_java_as_one_argument(tmp_path: Path) -> None:
    done, calls = _install(tmp_path, _render(tmp_path, "one-host"), PROXY_ENV, real_wrapper=True)
    assert done.returncode == 0, done.stderr
    argv = calls[0]
    assert argv[:5] == [
        "-Dhttp.proxyHost=proxy.corp.example",
        "-Dhttp.proxyPort=3128",
        "-Dhttps.proxyHost=proxy.corp.example",
        "-Dhttps.proxyPort=3129",
        "-Dhttp.nonProxyHosts=localhost|127.0.0.1|*.corp.example",  # not globbed, not split
    ]
    assert argv[5:8] == ["-jar", "/opt/jenkins-plugin-manager.jar", "--latest"]


def test_mirror_settings_reach_the_tool(tmp_path: Path) -> None:
    done, calls = _install(tmp_path, _render(tmp_path, "plugins-mirror"), {})
    assert done.returncode == 0, done.stderr
    assert calls[0]["argv"][5:] == [
        "--jenkins-update-center",
        "https://mirror.corp.example/jenkins/update-center.json?version=2.504.3&a=(1);b",  # one word, as written
        "--jenkins-plugin-info",
        "https://mirror.corp.example/jenkins/current/plugin-versions.json",
    ]
    assert calls[0]["download_url"] == "https://mirror.corp.example/jenkins/download/plugins"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HTTPS_PROXY", "http://user:secret@proxy:3128", "carries credentials"),
        ("HTTP_PROXY", "http://proxy:31$(touch PWNED)28", "not a port"),
        ("HTTP_PROXY", "http://pro xy;touch PWNED:3128", "not a host name"),
        ("NO_PROXY", "localhost,a;touch PWNED", "NO_PROXY: not a host name"),
    ],
)
def test_a_proxy_value_that_is_not_a_plain_address_stops_the_build(tmp_path, variable, value, message) -> None:
    done, calls = _install(tmp_path, _render(tmp_path, "one-host"), {variable: value})
    assert done.returncode != 0 and message in done.stderr
    assert calls == [] and not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
    assert "secret" not in done.stderr  # a proxy password is never echoed


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("update_center", "https://mirror.example/uc.json'; touch /tmp/x; '"),
        ("update_center", "https://mirror.example/$(id)/uc.json"),
        ("plugin_info", "https://mirror.example/`id`"),
        ("mirror", "https://mirror.example/a b"),
        ("mirror", "file:///etc/passwd"),
        ("update_center", "https://mirror.example/uc.json\n"),
        ("mirror", "https://mirror.example/${HOME}"),
    ],
)
def test_hostile_plugin_urls_are_refused_naming_the_key(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        _render(tmp_path, "one-host", {key: value})
    message = str(err.value)
    assert f": jenkins.plugins.{key}: invalid value" in message and "use an http(s) URL" in message


def test_a_bundle_excludes_downloads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _render(tmp_path, "one-host", {"bundle": "jenkins-plugins", "mirror": "https://m.example/p"})
    assert "bundle installs without network" in str(err.value)


# ---- air-gapped


def _jpi(path: Path, version: str) -> None:
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\r\nPlugin-Version: {version}\r\n\r\n")


def _bundle(tmp_path: Path, files: dict[str, str]) -> dict[str, str]:
    plugins = {}
    for line in files["jenkins/plugins.txt"].splitlines():
        if line and not line.startswith("#"):
            plugin, version = line.split(":", 1)
            plugins[plugin] = version
    (tmp_path / "ref/plugins").mkdir(parents=True, exist_ok=True)
    for plugin, version in plugins.items():
        _jpi(tmp_path / "ref/plugins" / f"{plugin}.jpi", version)
    _jpi(tmp_path / "ref/plugins/scm-api.jpi", "698.v8e3b_c788f0a_6")  # a dependency the tool pulled in
    return plugins


def test_a_bundle_is_copied_in_and_checked_without_the_network(tmp_path: Path) -> None:
    files = _render(tmp_path, "one-host", {"bundle": "jenkins/plugin-bundle"})
    dockerfile = files["jenkins/Dockerfile"]
    assert "COPY --chown=jenkins:jenkins plugin-bundle/ /usr/share/jenkins/ref/plugins/" in dockerfile
    assert "!plugin-bundle" in files["jenkins/.dockerignore"].splitlines()
    assert yaml.safe_load(files["ansible/group_vars/all.yml"])["mlci_plugin_bundle"] == "jenkins/plugin-bundle"
    # the command that makes the bundle is rendered next to the check, with the pinned image
    assert "--plugin-download-directory /work/plugin-bundle" in files["jenkins/install-plugins.sh"]
    plugins = _bundle(tmp_path, files)
    done, calls = _install(tmp_path, files, PROXY_ENV)  # a proxy changes nothing: no download at all
    assert done.returncode == 0, done.stderr
    assert calls == []
    assert f"the bundle holds the {len(plugins)} plugins of plugins.txt" in done.stdout


def test_a_stale_or_incomplete_bundle_fails_the_build_naming_the_plugin(tmp_path: Path) -> None:
    files = _render(tmp_path, "one-host", {"bundle": "jenkins/plugin-bundle"})
    plugins = _bundle(tmp_path, files)
    _jpi(tmp_path / "ref/plugins/git.jpi", "5.6.0")
    done, _ = _install(tmp_path, files, {})
    assert done.returncode != 0
    assert f"the plugin bundle has git 5.6.0, plugins.txt pins {plugins['git']}" in done.stderr
    (tmp_path / "ref/plugins/junit.jpi").unlink()
    _jpi(tmp_path / "ref/plugins/git.jpi", plugins["git"])
    done, _ = _install(tmp_path, files, {})
    assert done.returncode != 0 and "the plugin bundle has no junit.jpi" in done.stderr
