"""One module per `cimsdk` subcommand; each exports a click command named `command`."""
