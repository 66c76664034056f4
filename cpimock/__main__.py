from cpimock.cli import main

main()
