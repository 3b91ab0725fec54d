"""Numeric building blocks shared by several designs."""
