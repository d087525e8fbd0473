"""Versioned index definitions as data (mappings/definitions/*.json) and their strict loader."""

from mappings.loader import FieldDef, IndexMapping, MappingError, load_mapping

__all__ = ["FieldDef", "IndexMapping", "MappingError", "load_mapping"]
