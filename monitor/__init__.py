"""nanowatch: a live monitor and finish-time predictor for language-model training logs."""

__version__ = "0.1.0"
