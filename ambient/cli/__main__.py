from ambient.cli import entry

entry()
