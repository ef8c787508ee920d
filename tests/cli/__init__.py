"""Tests of the command line: every command group, bad input, and that README and --help name every command."""
