"""Tests of notices: issuing, numbering, strict rendering, PDF output and the golden notices."""
