"""Looking data sets up by the names users write: a catalogue set (any case) or a folder of their own
(``folder:<path>``)."""

from __future__ import annotations

from srbench.data.catalogue import CATALOGUE, FOLDER_PREFIX, DatasetSpec, is_folder_set
from srbench.data.folders import folder_spec
from srbench.errors import UserError


def get_spec(name: str, kind: str | None = None) -> DatasetSpec:
    """Look a set up by name (case-insensitive); a clear error lists the valid names. ``folder:<path>`` is the
    user's own set in that folder (see :func:`srbench.data.folders.folder_spec`); ``kind`` None makes it a
    benchmark set."""
    if is_folder_set(name):
        return folder_spec(name.strip().removeprefix(FOLDER_PREFIX), "train" if kind == "train" else "benchmark")
    matches = {n.lower(): s for n, s in CATALOGUE.items() if kind is None or s.kind == kind}
    spec = matches.get(name.strip().lower())
    if spec is None:
        valid = ", ".join(s.name for s in matches.values())
        what = f"{kind} set" if kind else "data set"
        raise UserError(f"unknown {what} '{name}'; valid: {valid}")
    return spec


def parse_set_list(text: str, kind: str | None = "benchmark") -> list[DatasetSpec]:
    """Parse ``"Set5,Set14"`` (or ``"Set5,folder:/data/my_bench"``) into specs, rejecting unknown names and empty
    lists."""
    names = [n for n in (part.strip() for part in text.split(",")) if n]
    if not names:
        raise UserError("no data set named: give a comma-separated list such as Set5,Set14,BSD100")
    return [get_spec(n, kind) for n in dict.fromkeys(names)]
