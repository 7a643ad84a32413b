"""cimconv: int8 TFLite model to CiM weight image (reader, passes, mapper, planner, writer)."""

__version__ = "0.1.0"
