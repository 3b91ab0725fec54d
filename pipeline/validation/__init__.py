"""What only benchmarks, tests and ``make demo-data`` use: the demo study, simulation, calibration."""
