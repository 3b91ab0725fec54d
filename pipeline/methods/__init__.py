"""Numerical building blocks: no file I/O, no figures, no ``Effect`` rows."""
