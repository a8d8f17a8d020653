"""SRCNN ablations (Dong et al., TPAMI 2016, Sec. 4.3), x3 on the Y channel, trained on T91 as in the paper.

Filter sizes 9-1-5 / 9-3-5 / 9-5-5 (n1/n2 = 64/32), filter numbers n1/n2 = 128/64,
64/32, 32/16 (9-1-5) and depth 9-1-5, 9-1-1-5, 9-3-1-5, 9-3-3-5, 9-3-3-3-5. The 9-1-5 64/32 net
is shared by all three studies, so it runs once: 9 variants, 3 seeds each (the leaderboard tests
the paper's orderings on the seeds).

`paper` is the paper's recipe (srbench/train/config.py): SGD with momentum 0.9 at 1e-4, 1e-5 for
the last layer, Caffe's Euclidean loss, N(0, 0.001) weights, 33x33 sub-images, batch 128, 8x10^8
backpropagations. How `quick` differs, and why, is in `budget_notes` (printed on the page).
"""

from srbench.experiment import Experiment

EXPERIMENT = Experiment(
    name="srcnn_ablation",
    description="SRCNN filter sizes, filter numbers and depth (x3, Y channel, T91)",
    model={"name": "srcnn"},
    scale=3,
    variants={
        "9-1-5": {"model.variant": "9-1-5"},
        "9-3-5": {"model.variant": "9-3-5"},
        "9-5-5": {"model.variant": "9-5-5"},
        "n128-64": {"model.variant": "n128-64"},
        "n32-16": {"model.variant": "n32-16"},
        "9-1-1-5": {"model.variant": "9-1-1-5"},
        "9-3-1-5": {"model.variant": "9-3-1-5"},
        "9-3-3-5": {"model.variant": "9-3-3-5"},
        "9-3-3-3-5": {"model.variant": "9-3-3-3-5"},
    },
    train_set="T91",
    # Urban100 too, whole, where trials train long enough to afford it: 9-5-5, the largest, took 145 s for its 100
    # images at x3 (srbench eval, 2 busy cores). Smoke keeps to the three small sets (no large download for it).
    budgets={budget: {"eval_sets": ["Set5", "Set14", "BSD100", "Urban100"]} for budget in ("quick", "paper")},
    budget_notes={
        "quick": (
            "T91, 33x33 patches, N(0, 0.001) weights and the last layer at a tenth of the rate, as in the paper, but "
            "Adam at 1e-3 (last layer 1e-4) with cosine decay for 20,000 updates of 64 patches, MSE, instead of SGD "
            "at 1e-4 (1e-5) for 6.25M updates of 128 on Caffe's Euclidean loss: at the paper's SGD rates 9-1-5 is "
            "still below bicubic after 3,000 updates of 128 (Set5 29.18 dB), and the paper trains about 10^4 times "
            "longer than quick can."
        )
    },
    seeds=[0, 1, 2],
    workers_per_trial=1,
    cpus_per_worker=1,
)
