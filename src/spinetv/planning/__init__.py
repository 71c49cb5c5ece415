"""spinetv.planning."""
