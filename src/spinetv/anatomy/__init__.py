"""spinetv.anatomy."""
