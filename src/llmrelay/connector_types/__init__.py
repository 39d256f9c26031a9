"""Concrete connector types. Only ``services.py`` names one (DESIGN.md rule 2)."""
