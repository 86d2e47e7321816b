"""Property tests: every parser of user input fed generated input (hypothesis).

The property, for every parser: the input loads, or it is refused as a user's mistake, which the CLI turns into
exit 2 with a message naming the file and the key or line; never a traceback (exit 3), never a hang. Examples are
bounded in number (50 a test; DEVSTACK_HYPOTHESIS_PROFILE=long runs 1,000) and each in time, so the whole folder
takes a couple of minutes in `make test`.

Profiles: `ci` (when CI is set) replays the same examples each run, so an unrelated change never meets a new one;
`dev` (the default) draws new ones each run and keeps failures in .hypothesis/ to replay them first.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The deadline flags a slow example (the machine is shared: it is generous); outcome.HANG_S stops a hung one.
_COMMON = {"deadline": 5000, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                         HealthCheck.data_too_large]}
settings.register_profile("dev", max_examples=50, **_COMMON)
settings.register_profile("ci", max_examples=50, derandomize=True, database=None, **_COMMON)

settings.register_profile("long", max_examples=1000, **_COMMON)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("DEVSTACK_HYPOTHESIS_PROFILE", "dev"))
