"""The `advisor` command line: one-shot advice, the terminal interview, sessions, search, and the launchers of the other fronts."""
