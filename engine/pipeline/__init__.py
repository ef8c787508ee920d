"""The pipeline stage: what runs the stages below it for a whole register and a named pack.

Supervision cycles (run, show, compare, replay), the parallel worker processes that evaluate batches through
durable-rules, simulation of a draft pack, the evaluation of one entity, the cycle report, the online check of
stored decisions at a service counter and the demo. It alone in engine, with the interfaces (cli.py, HTTP), may
import ``policies``, ``lists`` and ``notices``, and it alone loads packs by name (``policies.get_pack``).
"""
