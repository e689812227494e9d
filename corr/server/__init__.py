"""A resident corr process that keeps its imports warm between commands.

- :mod:`.address`: where a server listens and the key of its code;
- :mod:`.protocol`: the request (argv, cwd, environment, stdio descriptors)
  and the replies (pid, exit code);
- :mod:`.daemon`: the server, a fork per command;
- :mod:`.client`: hands a command over, forwards signals, starts a server.

:mod:`corr.launcher` decides per command; docs/server.md explains it.
"""
