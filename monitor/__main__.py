"""`python -m monitor` is the `nanowatch` command."""

import sys

from monitor.cli import main

sys.exit(main())
