"""Tests of inspection plans: the draw and its properties, inspectors, exports, public pages and results."""
