"""The studies srbench ships: each file defines one ``srbench.experiment.Experiment``. Installed as the package
``srbench.studies``, so ``srbench sweep <name>`` finds them from any folder (``srbench studies`` lists them)."""
