"""One module per `mlci` subcommand; each exposes a click command named `command`."""
