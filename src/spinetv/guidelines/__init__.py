"""spinetv.guidelines."""
