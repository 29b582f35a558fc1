"""Releases: which projects a change retrains, the Jenkins client and trigger, Slack notifications."""
