"""Hydra configs of transfer_lab (a package, so that installs ship it and Hydra finds it as pkg://transfer_lab.conf)."""
