from transfer_lab.cli import entry

entry()
