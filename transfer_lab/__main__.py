from transfer_lab.cli import main

main()
