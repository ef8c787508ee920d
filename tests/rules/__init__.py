"""Tests of packs and decisions: loading, validation, conditions, the durable-rules adapter, evaluation, evidence."""
