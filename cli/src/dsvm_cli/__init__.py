"""dsvm: the command line for the DSVM control plane."""

__version__ = "0.1.0"
