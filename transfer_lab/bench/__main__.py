from transfer_lab.bench import main

main()
