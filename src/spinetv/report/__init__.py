"""spinetv.report."""
