"""``python -m bench [--quick]``: run every registered benchmark."""

from bench.run_all import main

raise SystemExit(main())
