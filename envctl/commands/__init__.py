"""One module per CLI verb. Each exposes NAME, HELP and a typer ``command`` function."""
