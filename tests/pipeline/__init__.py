"""Tests of the pipeline: cycles, worker processes, simulation, the cycle report and the demo."""
