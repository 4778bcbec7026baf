"""What both Django services share: the typed environment reader (`env`), the base settings
(`base`), and Django plumbing with no domain in it (health, metrics, tracing, logs, middleware,
admin, URLs, management command options). The two services never import each other; see docs/settings.md."""
