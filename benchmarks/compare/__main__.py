from benchmarks.compare.cli import main

main()
