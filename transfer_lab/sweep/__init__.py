"""Sweeps of the study: our Hydra sweeper's work (sweeper.py) and the progress its jobs print (progress.py)."""
