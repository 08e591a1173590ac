from lazyext.cli import main

raise SystemExit(main())
