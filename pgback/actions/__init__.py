"""What the commands do. The CLI calls these; the scenario harness uses them in-process too."""
