"""One run: its claim, its fit on a device, its base-network store, checkpoints, loggers and the records it leaves."""
