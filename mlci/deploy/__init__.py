"""Serving a published model version: `mlci deploy` (the healthy swap of the container `{env}-{project}`),
`mlci deploy --status` and `mlci itest`. target.py finds what to serve, container.py says how it runs,
health.py decides when it is ready, swap.py replaces the old container only by a healthy new one."""
