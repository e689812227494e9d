from .launcher import entry_point

entry_point()
