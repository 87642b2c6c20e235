"""Running the model: single runs with their output folders, comparisons and sweeps."""
