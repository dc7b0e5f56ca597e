"""SNMP polling of remote sites over V-Sat: value objects (model), the wire-to-value decisions
(decode), the asyncio poller on pysnmp (poller), counter rates (rates) and device profiles
(profiles, http_status)."""
