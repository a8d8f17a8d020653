from srbench.cli import main

raise SystemExit(main())
