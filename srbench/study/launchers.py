"""How a trial trains, a study's ``launcher`` field: a module of its own, free of torch, because ``srbench sweep
--help`` lists the choices."""

# "tune" in its Tune trial's own process (one worker), "train" on a Ray Train TorchTrainer worker group (DDP);
# "auto" is "tune" for one worker per trial and "train" for several.
LAUNCHERS = ("auto", "tune", "train")
