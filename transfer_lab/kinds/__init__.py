"""The kinds of run (base, transfer, random filters, probe, similarity): one module each, registered
on import (kinds/registry.py). Every module of this package is imported here, so a new kind is one
new module (and its conf/exp preset)."""

import importlib
import pkgutil

from transfer_lab.kinds.registry import KINDS, RunKind, kind_named, kind_of

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "RunKind", "kind_named", "kind_of"]
