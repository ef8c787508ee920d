"""supervise: rules-driven tiered supervision and joint sanctions; the engine package is every stage below the
interfaces except packs, lists and notices, layered as docs/architecture.md draws them.

Bottom up: the foundation (errors, values, calendar and deadlines, regions, authorities, exports, outpaths,
progress, templating) with the store layer (:mod:`engine.store`); the register (:mod:`engine.register`); the policy
model and facts (:mod:`engine.model`, :mod:`engine.facts`); conditions and the durable-rules adapter
(:mod:`engine.conditions`, :mod:`engine.rules`); decisions (:mod:`engine.decisions`, :mod:`engine.evaluate`,
:mod:`engine.evidence`); inspection plans (:mod:`engine.plans`); and the pipeline (:mod:`engine.pipeline`), the only
engine code that imports ``policies``, ``lists`` and ``notices``.
"""

__version__ = "0.1.0"
