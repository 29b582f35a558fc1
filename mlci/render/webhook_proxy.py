"""compose/nginx.example.conf: the public side's TLS proxy in front of frps, exact matches only.

Rendered next to compose/frps.example.toml for the team's public machine; never copied to the hosts.
"""

from __future__ import annotations

import re

from mlci.manifest.schema import HOSTNAME_RE
from mlci.render.model import Facts
from mlci.render.syntax import HEADER
from mlci.render.templating import render_template
from mlci.webhook.rule import DEFAULT_MAX_BODY, WEBHOOK_PATH

NGINX_EXAMPLE = "compose/nginx.example.conf"


def render_nginx_example(facts: Facts) -> str:
    frp = facts.manifest.webhook.frp
    assert frp is not None and facts.webhook_domain  # checked before rendering
    # The schema admits only host names, which are inert in nginx's syntax; checked again where placed.
    assert re.fullmatch(HOSTNAME_RE, facts.webhook_domain)
    return render_template(
        "nginx.example.conf.j2",
        header=HEADER,
        domain=facts.webhook_domain,
        path=WEBHOOK_PATH,
        vhost_port=frp.vhost_http_port,
        max_body=f"{DEFAULT_MAX_BODY // 1024}k",
    )
