"""spinetv.io."""
