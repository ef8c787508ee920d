"""The pipeline stage: what runs the stages below it for a whole register and a named pack.

Supervision cycles (run, compare, replay, reopen), the parallel worker processes that evaluate batches through
durable-rules, simulation of a draft pack, the cycle report, the online check of stored decisions and the demo.
It alone, with the interfaces (cli.py, HTTP), may import ``lists`` and ``notices`` and load packs by name.
"""
