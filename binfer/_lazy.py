"""Lazy package namespaces (PEP 562): a package's public names load from their submodules on
first use, so importing the package imports none of its heavy dependencies."""

from __future__ import annotations

import importlib
import sys


def attach(package: str, exports: dict[str, str], submodules: tuple[str, ...] = ()):
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps each public name to the
    submodule (relative to ``package``) defining it; ``submodules`` load as attributes. A resolved
    name is cached in the package's globals, so ``__getattr__`` runs once per name."""

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            setattr(sys.modules[package], name, value)
            return value
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports, *submodules})

    return __getattr__, __dir__
