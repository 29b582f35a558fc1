"""The simulator's health check (run inside its container by the engine): exit 0 once it answers."""

import urllib.request

urllib.request.urlopen("http://127.0.0.1:8080/health", timeout=2).read()
