"""Tests of the store layer: bulk writes and the store on both databases."""
