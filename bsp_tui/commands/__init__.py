"""The `bsp` subcommand groups."""
