"""`python3 -m devstack_sink ARGS`: the same as `devstack sink ARGS`."""

import sys

from devstack_sink import cli

raise SystemExit(cli.main(sys.argv[1:]))
