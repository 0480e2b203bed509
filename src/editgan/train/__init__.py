"""Training loops: each module trains one network of the system."""
