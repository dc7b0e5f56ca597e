"""The admins' console: a Flask app on the management side, unprivileged, acting through netd."""
