"""The funder's final report, its PDF, and the tables for the next tool."""
