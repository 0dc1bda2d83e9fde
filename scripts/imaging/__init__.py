"""The shared imaging library: what the stage scripts in scripts/ are made of."""
