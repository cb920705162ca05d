"""Sub-commands of the `medlabel` CLI (see medlabel.cli.COMMAND_MODULES)."""
