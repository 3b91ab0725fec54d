"""From the files a place partnership has to the study's input files.

Each importer reads source files (Brå exports, geocoded offences and place
polygons, footfall counter exports, Excel workbooks), checks them, and writes
the study's contract files (``series.csv``, ``survey.csv``,
``inspections.csv``, ``actions.csv``) only when everything passed, together
with an entry in the study's import record (``imports.json``) naming every
source file and its SHA-256. :mod:`~pipeline.importers.scaffold` starts a new
study folder and tells what is still missing from it.
"""
