"""The citizens' captive portal: a Flask app that runs in the gateway and talks only to netd."""
