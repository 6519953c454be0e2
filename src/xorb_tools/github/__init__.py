"""GitHub Actions on this host: act and what it needs offline, the pinned actions and
their local copies, and running the workflows' jobs (``nox -s workflows``)."""
