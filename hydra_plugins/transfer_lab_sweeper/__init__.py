"""transfer_lab's Hydra sweeper. Hydra instantiates plugins only from the hydra_plugins package;
the sweep itself is transfer_lab.sweep.sweeper."""
