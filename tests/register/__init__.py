"""Tests of the register: codes, and the intake of entity and record files (bad input included)."""
