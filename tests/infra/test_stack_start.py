"""`mlci_stack_start: true` on the test host: compose builds and starts the stack, Jenkins is waited for.

The real Jenkins image cannot be pulled here, so the host's engine is given a stand-in under the name
the fixture's jenkins/Dockerfile builds FROM: busybox's httpd answering /login on port 8080, plus the
host's own OpenSSH client (with the libraries it links) in place of the SSH launcher Jenkins runs for
its agents. What is tested is the role's part: `up -d --build` in /srv/mlci/compose with the .env
applied, the wait for Jenkins, that a rerun leaves the running stack alone, and that the controller's
container reaches its own host's sshd as the agent user (the controller's host is a Jenkins SSH agent
to itself, so builds run there, outside the container). The real launcher is the ssh-slaves plugin's
Java SSH client; the network path (compose's `host-gateway`), the key mlci_stack generated, the
authorized_keys jenkins_agent wrote and the user it logs in as are the real ones.
"""

import pytest
from infra_checkout import AGENT_USER, JENKINS_BASE_IMAGE, MLCI_ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

STAND_IN = f"""set -e
sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null
rootfs=$(mktemp -d)
mkdir -p "$rootfs/bin" "$rootfs/www"
cp /bin/busybox "$rootfs/bin/busybox"
echo 'stand-in for Jenkins' > "$rootfs/www/login"
# the host's ssh client and what it links, as the stand-in for the SSH launcher
mkdir -p "$rootfs/usr/bin" "$rootfs/etc"
cp /usr/bin/ssh "$rootfs/usr/bin/ssh"
for lib in $(ldd /usr/bin/ssh | grep -o '/[^ ]*'); do
  mkdir -p "$rootfs$(dirname "$lib")" && cp -L "$lib" "$rootfs$lib"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
sudo tar -C "$rootfs" -c . | sudo docker import \
  --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]' - {JENKINS_BASE_IMAGE} >/dev/null
rm -rf "$rootfs"
"""


@pytest.fixture(scope="module")
def started(provisioned, checkout):
    seeded = checkout.host_shell(STAND_IN)
    assert seeded.returncode == 0, seeded.stderr
    first = checkout.playbook("-e", "mlci_stack_start=true")
    assert first.returncode == 0, first.output[-6000:]
    return first, checkout.playbook("-e", "mlci_stack_start=true")


def test_up_builds_and_starts_the_stack_and_jenkins_answers(started, checkout):
    first, _ = started
    assert "TASK [mlci_stack : Build and start the stack]" in first.output
    running = checkout.host_shell(
        "sudo docker ps --filter label=com.docker.compose.project=mlci-test "
        '--format \'{{.Label "com.docker.compose.service"}} {{.Label "mlci.service"}}\''
    )
    assert running.stdout.split() == ["jenkins", "jenkins"], running.stdout + running.stderr
    login = checkout.host_shell("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/login")
    assert login.stdout == "200"


def test_the_container_gets_the_docker_socket_group_and_its_secret(started, checkout):
    socket_gid = checkout.host_shell("stat -c %g /var/run/docker.sock").stdout.strip()
    container = "$(sudo docker ps -q --filter label=com.docker.compose.project=mlci-test)"
    groups = checkout.host_shell(f"sudo docker inspect --format '{{{{json .HostConfig.GroupAdd}}}}' {container}")
    assert groups.stdout.strip() == f'["{socket_gid}"]'
    secret = checkout.host_shell(f"sudo docker exec {container} /bin/busybox cat /run/secrets/MLCI_TEST_GITHUB_TOKEN")
    assert secret.returncode == 0 and secret.stdout, secret.stderr
    home = checkout.host_shell(f"sudo docker exec {container} /bin/busybox ls -d {MLCI_ROOT}/jenkins_home")
    assert home.returncode == 0, home.stderr


def test_a_rerun_leaves_the_running_stack_alone(started, checkout):
    _, second = started
    assert second.returncode == 0, second.output[-6000:]
    assert second.recap(checkout.host.name)["changed"] == 0, second.output[-6000:]


def test_jenkins_not_answering_fails_the_play_saying_where_to_look(started, checkout):
    run = checkout.playbook(
        "-e",
        "mlci_stack_start=true",
        "-e",
        "mlci_jenkins_port=8089",  # nothing listens there
        "-e",
        "mlci_stack_jenkins_wait_seconds=5",
        "--start-at-task",
        "mlci_stack : Check the rendered variables are there",
    )
    assert run.returncode != 0
    assert "Jenkins did not answer on http://127.0.0.1:8089/login within 5s" in run.output
    assert f"logs jenkins` in {MLCI_ROOT}/compose" in run.output


def test_the_controller_container_reaches_its_own_host_as_the_agent_user(started, checkout):
    # What the SSH launcher of the controller's own node does (casc: host host.docker.internal, the
    # JENKINS_AGENT_SSH_KEY credential, user mlci-agent), from inside the running Jenkins container.
    container = "$(sudo docker ps -q --filter label=com.docker.compose.project=mlci-test)"
    ssh = (
        f"sudo docker exec {container} /usr/bin/ssh -i /run/secrets/JENKINS_AGENT_SSH_KEY -o BatchMode=yes"
        f" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null {AGENT_USER}@host.docker.internal"
    )
    who = checkout.host_shell(f"{ssh} 'id -un; id -Gn; echo $HOME; docker ps -q >/dev/null && echo engine'")
    assert who.returncode == 0, who.stderr
    user, groups, home, engine = who.stdout.split("\n")[:4]
    assert (user, home, engine) == (AGENT_USER, f"/home/{AGENT_USER}", "engine")
    assert "docker" in groups.split()
    # Builds run as this user: the secrets the controller's Jenkins reads are not theirs to read.
    secrets = checkout.host_shell(f"{ssh} 'ls {MLCI_ROOT}/secrets'")
    assert secrets.returncode != 0 and "Permission denied" in secrets.stderr, secrets.stdout + secrets.stderr
