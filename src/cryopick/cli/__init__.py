"""Command-line interface: argv to typed configs, errors to exit codes."""
