"""`python -m srbench`: the command line."""

from srbench.cli import main

raise SystemExit(main())
