from openclarify.cli import main

raise SystemExit(main())
