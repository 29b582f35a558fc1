"""The run record: its typed model, named transitions, JSON and JSON Schema, and the readers."""
