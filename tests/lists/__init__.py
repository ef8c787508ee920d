"""Tests of lists: the entry lifecycle, joint measures, credit repair, the public site and the lists commands."""
