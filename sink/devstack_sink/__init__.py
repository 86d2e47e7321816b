"""devstack-sink: a null-sink SMTP server (aiosmtpd) that counts what it discards and injects faults.

Runs on the host (`devstack sink`, which calls `devstack_sink.cli.main(argv)`) and in a container
with nothing but Debian bookworm's python3, python3-aiosmtpd (1.4.3) and python3-uvloop: the
package uses the standard library, aiosmtpd, and uvloop when it can be imported.

Modules: cli (flags) → service (one run) → fleet/processes (workers) → workers (one worker) →
smtp (the protocol) → datastream, faults, stats, capture; api/http/metrics serve the HTTP side.
"""

__version__ = "0.1.0"
