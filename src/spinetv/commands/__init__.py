"""Sub-commands of the ``spinetv`` command line, one module each."""
