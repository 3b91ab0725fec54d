"""One municipality's evaluation: every applicable design for each target and indicator."""
