"""SRCNN ablations (Dong et al., TPAMI 2016, Sec. 4.3), x3 on the Y channel.

Filter sizes 9-1-5 / 9-3-5 / 9-5-5 (n1/n2 = 64/32), filter numbers n1/n2 = 128/64,
64/32, 32/16 (9-1-5) and depth 9-1-5, 9-1-1-5, 9-3-3-5, 9-3-3-3-5. The 9-1-5 64/32 net
is shared by all three studies, so it runs once: 8 trials.
"""

from srbench.experiment import Experiment

EXPERIMENT = Experiment(
    name="srcnn_ablation",
    description="SRCNN filter sizes, filter numbers and depth (x3, Y channel)",
    model={"name": "srcnn"},
    scale=3,
    variants={
        "9-1-5": {"model.variant": "9-1-5"},
        "9-3-5": {"model.variant": "9-3-5"},
        "9-5-5": {"model.variant": "9-5-5"},
        "n128-64": {"model.variant": "n128-64"},
        "n32-16": {"model.variant": "n32-16"},
        "9-1-1-5": {"model.variant": "9-1-1-5"},
        "9-3-3-5": {"model.variant": "9-3-3-5"},
        "9-3-3-3-5": {"model.variant": "9-3-3-3-5"},
    },
    train_set="BSDS200",
    workers_per_trial=1,
    cpus_per_worker=1,
)
