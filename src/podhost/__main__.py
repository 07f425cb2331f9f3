from podhost.cli.main import main

raise SystemExit(main())
