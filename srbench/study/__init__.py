"""Studies: the ``Experiment`` spec a study file declares, loading it, and resolving it into one plan per trial."""
