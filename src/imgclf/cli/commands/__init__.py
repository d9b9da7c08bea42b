"""One module per ``imgclf`` subcommand, each with ``add_parser(subparsers)`` and ``run(args)``."""
