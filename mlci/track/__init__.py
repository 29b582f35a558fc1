"""Experiment tracking: a finished run, read from its record, mirrored in MLflow.

mlci/track/mlflow.py sends a run (`track_run`), mlci/track/payload.py turns a record into what is
sent, mlci/track/uri.py says where. The MLflow client is an optional extra (`pip install
'mlci[mlflow]'`), imported by mlflow.py only when a run is tracked, so `mlci run` without
`tracking:` never pays its import.
"""
