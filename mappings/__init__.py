"""Versioned index definitions as data (mappings/definitions/*.json) and their strict loader."""

from mappings.loader import ElasticOptions, FieldDef, IndexMapping, MappingError, load_mapping, mapping_versions

__all__ = ["ElasticOptions", "FieldDef", "IndexMapping", "MappingError", "load_mapping", "mapping_versions"]
