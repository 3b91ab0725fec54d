"""Reproducible before/after evaluation of place-based crime prevention.

The package holds all logic; notebooks only call into it. See ARCHITECTURE.md
for the module map.
"""

__version__ = "0.3.0"
