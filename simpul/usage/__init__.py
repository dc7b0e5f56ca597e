"""Bandwidth accounting: rollup buckets, booking of kernel counter readings, the usage database
and the queries that the CLI, the admin console and the reports share."""
