"""Command-line entry point and process wiring (sync + API) of the embedded default."""
