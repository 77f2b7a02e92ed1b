from kefu_floor.cli import main

raise SystemExit(main())
