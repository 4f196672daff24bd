from ldnscreen.cli import main

main()
