from campusbot.cli import main

raise SystemExit(main())
