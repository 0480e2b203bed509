from editgan.cli import run

run()
