from aetherflow_compiler.cli import main

main()
