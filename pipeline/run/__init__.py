"""Orchestration: file names, provenance, parallel notebook runs and the command line."""
