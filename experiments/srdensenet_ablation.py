"""SRDenseNet skip-connection variants (Tong et al., ICCV 2017, Sec. 3.3), x4 on the Y channel:
H (last block only), HL (plus low-level features), ALL (every block plus low-level features)."""

from srbench.experiment import Experiment

EXPERIMENT = Experiment(
    name="srdensenet_ablation",
    description="SRDenseNet H / HL / ALL (x4, Y channel)",
    model={"name": "srdensenet"},
    scale=4,
    variants={v: {"model.variant": v} for v in ("H", "HL", "ALL")},
    train_set="BSDS200",
)
