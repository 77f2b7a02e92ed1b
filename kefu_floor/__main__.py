from kefu_floor.cli.main import run

run()
