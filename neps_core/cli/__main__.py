"""``python -m neps_core.cli``: the same as the ``neps-core`` script."""

import sys

from neps_core.cli import console_main

sys.exit(console_main())
