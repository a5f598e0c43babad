"""Allow ``python -m nmapx`` as an alias of the ``nmapx`` console script."""

import sys

from nmapx.cli import main

sys.exit(main())
