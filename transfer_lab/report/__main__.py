from transfer_lab.report import main

main()
