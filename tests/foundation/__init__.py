"""Tests of the foundation layer: deadlines and the calendar, output paths, regions."""
