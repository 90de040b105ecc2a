"""`./voco <subcommand>`: the command-line client of the presence service."""
