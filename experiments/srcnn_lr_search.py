"""Learning-rate and batch-size search for SRCNN 9-1-5 (Dong et al., TPAMI 2016), x3 on the Y channel.

Ray Tune samples the learning rate log-uniformly and the batch size from a list (random search,
seeded by ``search_seed`` so the same values come back), and ASHA stops the trials whose
validation PSNR falls behind at each rung (every ``val_every`` iterations, keeping the best
quarter). Trials ASHA stops are recorded in MLflow as stopped early and listed apart on the
leaderboard, with the iteration they reached.
"""

from ray import tune

from srbench.experiment import Experiment

EXPERIMENT = Experiment(
    name="srcnn_lr_search",
    description="SRCNN 9-1-5 learning rate and batch size, random search with ASHA (x3, Y channel)",
    model={"name": "srcnn", "variant": "9-1-5"},
    scale=3,
    search_space={"lr": tune.loguniform(1e-5, 1e-2), "batch_size": tune.choice([16, 32, 64])},
    num_samples=6,
    search_seed=0,
    scheduler="asha",
    train_set="T91",
    # Smoke (the test suite's): 6 trials of 24 iterations, validated every 6 on two Set5 images so ASHA
    # has rungs to act on, and scored on Set5 alone.
    budgets={"smoke": {"iterations": 24, "val_every": 6, "log_every": 6, "eval_sets": ["Set5"]}},
    workers_per_trial=1,
    cpus_per_worker=1,
)
