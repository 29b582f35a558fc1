"""`python -m mlci.webhook --upstream jenkins:8080 --host hooks.acme.example --token-file FILE
[--environment NAME]...`.

Run by the compose stack's `webhook-filter` service (frpc forwards to it; it forwards to Jenkins).
Exit 2 with one line on a bad argument or an unreadable or empty token file.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mlci.webhook.deploy import ENV_PATTERN
from mlci.webhook.rule import DEFAULT_MAX_BODY, Policy
from mlci.webhook.server import Limits, Upstream, main_loop


def address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"'{text}' is not HOST:PORT")
    return host.strip("[]"), int(port)


def read_token(path: str) -> bytes:
    try:
        token = Path(path).read_bytes().strip()
    except OSError as error:
        raise ValueError(f"webhook-filter: cannot read the token file {path}: {error.strerror}") from None
    # Header values are visible ASCII: a token that is not could never match, so say so at start.
    if not token or any(byte < 0x21 or byte > 0x7E for byte in token):
        raise ValueError(f"webhook-filter: the token file {path} is empty or holds characters a header cannot carry")
    return token


def environment(text: str) -> str:
    if not re.fullmatch(ENV_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text[:64]!r} is not an environment name")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlci.webhook", description=__doc__)
    parser.add_argument("--listen", type=address, default=("0.0.0.0", 8081), help="HOST:PORT (default 0.0.0.0:8081)")
    parser.add_argument("--upstream", type=address, required=True, help="Jenkins, HOST:PORT")
    parser.add_argument("--host", required=True, help="the public webhook host name (Host header)")
    parser.add_argument("--token-file", action="append", required=True, help="a webhook token (repeatable)")
    parser.add_argument(
        "--environment",
        action="append",
        type=environment,
        default=[],
        help="an environment of mlci.yaml the deploy route may deploy to (repeatable; none: no deploys)",
    )
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, help="bytes (default 1 MiB)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for the body and for Jenkins")
    args = parser.parse_args(argv)
    try:
        tokens = tuple(read_token(p) for p in args.token_file)
        policy = Policy(args.host, tokens, args.max_body, tuple(args.environment))
    except ValueError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    limits = Limits(body_timeout=args.timeout, upstream_timeout=args.timeout)
    main_loop(policy, Upstream(*args.upstream), args.listen, limits)


if __name__ == "__main__":
    main()
