"""Checks of a design rather than estimates: placebo tests in time and minimum detectable effects."""
