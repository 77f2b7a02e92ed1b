"""The `kefu-floor` command (`kefu_floor.cli.main`) and one module per command group."""
