"""`mlci schema record`: the published JSON Schema of status.json, for the readers of run records."""

from __future__ import annotations

import click

from mlci.record.schema import SCHEMAS, schema_text


@click.command("schema")
@click.argument("name", type=click.Choice(sorted(SCHEMAS)))
def command(name: str) -> None:
    """Print the JSON Schema NAME (record: status.json)."""
    click.echo(schema_text(name), nl=False)
