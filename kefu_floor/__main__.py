from kefu_floor.cli.main import main

raise SystemExit(main())
