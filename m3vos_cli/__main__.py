from m3vos_cli.main import main

main()
