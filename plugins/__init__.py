"""The built-in plugins of neps_core, installed as the import package ``neps_core_plugins``.

Each module is one plugin with its own entry point in ``pyproject.toml``; the core never
imports them directly.
"""
