"""The register stage: market entities and natural persons with their credit records.

It owns the codes (统一社会信用代码 and resident identity numbers: checking, normalising, masking), the record
kinds and their field specs, the intake of files (CSV, XLSX, JSONL; encodings, limits, rejects; the one import
loop every importer runs, inspectors and results included) and the import and lookup of entities and records
(``engine.register.entities``). It reads nothing above it: packs hand it their limits and record kinds.

This ``__init__`` imports nothing: ``codes`` and ``records`` need neither the store nor SQLAlchemy, and the policy
model, the packs and the Jinja environment import them without loading the store (about 0.2-0.3 s). Callers of
the importers import ``engine.register.entities``.
"""
