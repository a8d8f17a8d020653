"""What a run folder of ``srbench train`` is: a marker file written when srbench makes it, so a folder of the user's
is never written into, and a run stopped before its first checkpoint is still known as srbench's."""

from __future__ import annotations

from pathlib import Path

from srbench.errors import UserError
from srbench.outdir import check_output_folder

MARKER = ".srbench-run"


def is_run_folder(folder: Path) -> bool:
    """A folder srbench made: its marker, or a checkpoint (runs from before the marker)."""
    return (folder / MARKER).is_file() or (folder / "checkpoints" / "last.pt").is_file()


def mark_run_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("a run folder of srbench train\n")


def check_new_run_folder(folder: Path) -> None:
    """A new run may go in a folder that does not exist or is empty, never in one of the user's or another run's."""
    check_output_folder(folder, "--run-dir")
    if (folder / "checkpoints" / "last.pt").is_file():
        raise UserError(f"{folder} already holds a run; use --resume {folder} or another --run-dir")
    if is_run_folder(folder):
        raise UserError(
            f"{folder} holds a run stopped before its first checkpoint (nothing to resume); "
            f"remove it or give another --run-dir"
        )
    if folder.is_dir() and any(folder.iterdir()):
        raise UserError(
            f"--run-dir {folder} already exists and is not an srbench run folder; give a new or empty folder"
        )


def check_resumable(folder: Path) -> Path:
    """The checkpoint ``--resume`` continues from, after checking the folder is a run folder srbench can write."""
    last = folder / "checkpoints" / "last.pt"
    if not folder.exists():
        raise UserError(f"--resume {folder}: no such folder (checkpoint {last} does not exist)")
    if is_run_folder(folder) and not last.exists():
        raise UserError(
            f"--resume {folder}: the run stopped before its first checkpoint (nothing to resume); start it again"
        )
    if not last.exists():
        raise UserError(f"--resume {folder}: not an srbench run folder (no checkpoints/last.pt)")
    check_output_folder(folder, "--resume")
    return last
