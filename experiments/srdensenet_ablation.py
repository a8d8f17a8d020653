"""SRDenseNet skip-connection variants (Tong et al., ICCV 2017, Sec. 3.3), x4 on the Y channel:
H (last block only), HL (plus low-level features), ALL (every block plus low-level features).
Three seeds per variant: the leaderboard tests the paper's ordering H < HL < ALL on them. Urban100 is not scored:
one of its images took SRDenseNet 34 s on a CPU beside a running sweep, so its 100 would outlast a quick trial."""

from srbench.experiment import Experiment

EXPERIMENT = Experiment(
    name="srdensenet_ablation",
    description="SRDenseNet H / HL / ALL (x4, Y channel)",
    model={"name": "srdensenet"},
    scale=4,
    variants={v: {"model.variant": v} for v in ("H", "HL", "ALL")},
    budget_notes={
        "quick": (
            "the paper's architecture and loss, but 1,000 Adam updates of 16 64x64 patches at 3e-4 with cosine decay, "
            "instead of 500k updates of 32 100x100 patches at 1e-4 divided by 10 every 150k, to fit a CPU trial; "
            "trained on BSDS200 (the paper: 50,000 ImageNet images)."
        ),
        "paper": "trained on BSDS200; the paper trained on 50,000 ImageNet images.",
    },
    train_set="BSDS200",
    seeds=[0, 1, 2],
)
