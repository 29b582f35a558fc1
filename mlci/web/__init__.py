"""The run dashboard (`mlci dashboard`): server-side HTML over the run records, read-only unless a
user logs in with the dashboard's own password. Only this package imports the web framework
(the optional `mlci[dashboard]` extra); the pure parts (overview, logs, plot, compare, i18n) do not.
"""
