"""The captive portal's blueprint and the pure logic behind it (tokens, probes, hosts, strings)."""
