from costcap.cli import main

main()
