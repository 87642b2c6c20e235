"""Pattern-oriented validation and calibration: `brusim validate` checks the defaults against
the patterns of configs/calibration/patterns.yaml, `brusim calibrate` fits the free behavioural
parameters of configs/calibration/free_parameters.yaml to them with Optuna."""
