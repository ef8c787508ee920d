"""The register stage: market entities and natural persons with their credit records.

It owns the codes (统一社会信用代码 and resident identity numbers: checking, normalising, masking), the record
kinds and their field specs, the intake of files (CSV, XLSX, JSONL; encodings, limits, rejects; the one import
loop every importer runs, inspectors and results included) and the import and lookup of entities and records. It
reads nothing above it: packs hand it their limits and record kinds.
"""

from engine.register.entities import import_entities, import_records, resolve_code, show_entity

__all__ = ["import_entities", "import_records", "resolve_code", "show_entity"]
