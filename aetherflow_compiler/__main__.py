from aetherflow_compiler.cli.commands import main

main()
