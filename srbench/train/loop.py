"""The training loop for one trial: pixel-loss training, optional perceptual content loss
and adversarial phase, periodic validation, checkpoints and exact resume.

It runs in one process or under ``torch.distributed`` (one process per rank, the
process group set up by the caller: a test, ``torchrun`` or Ray Train). It reports
through :class:`TrainCallback` and imports neither Ray nor MLflow.

A run directory holds ``config.json``, ``history.jsonl`` (one JSON object per log or
validation), ``checkpoints/last.pt`` (everything a resume needs) and ``best.pt`` (the
generator's weights at the best PSNR on the first validation set), and ``results.json``
(the final evaluation).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from srbench.crops import crop, crop_box, crop_file
from srbench.data import get_spec, load_set
from srbench.data.images import save_png
from srbench.degrade import modcrop
from srbench.evaluate import SetScore, evaluate_model
from srbench.hardware import describe_trial_hardware
from srbench.losses import category_loss, content_loss, discriminator_loss, generator_adversarial_loss, pixel_loss
from srbench.metrics import Scorer, prepare
from srbench.models import build_model, count_parameters, macs_per_output_megapixel
from srbench.models.conditions import build_condition_source
from srbench.models.interface import traits
from srbench.models.registry import entry_for
from srbench.train.checkpoint import load_checkpoint, save_checkpoint
from srbench.train.config import TrainConfig
from srbench.train.data import Batch, PatchSampler
from srbench.train.device import standalone_device
from srbench.train.inference import SuperResolver
from srbench.train.optim import build_optimizer, lr_factor, parameter_groups
from srbench.train.precision import autocast, fp32_scoring, memory_format, resolve_precision
from srbench.train.progress import Progress
from srbench.train.run_folder import mark_run_folder


class TrainCallback(Protocol):
    """What a sweep plugs in: Ray Train's report, an MLflow logger, ... A callback may also define
    ``stop_requested() -> bool`` (asked on rank 0 every ``log_every`` iterations): a scheduler's early stop."""

    def report(self, iteration: int, metrics: dict[str, float], checkpoint: Path | None) -> None: ...


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        data_root: Path,
        callbacks: Sequence[TrainCallback] = (),
        resume: bool = False,
        show_progress: bool = True,
        resume_from: Path | None = None,
        device: torch.device | None = None,
        gpus_per_worker: float | None = None,
        nodes: int = 1,
    ) -> None:
        """``resume`` continues from ``run_dir/checkpoints/last.pt``; ``resume_from`` from any checkpoint. ``device``
        is the one the launcher assigned (a sweep's Ray worker: ``train.device.choose_device``); by default the
        local rank's GPU if there is one, else the CPU. ``gpus_per_worker`` (default: 1 on a GPU, else 0) and
        ``nodes`` describe the run's hardware as the launcher reserved it."""
        self.config, self.run_dir, self.data_root = config, Path(run_dir), data_root
        self.callbacks, self.show_progress = list(callbacks), show_progress
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.device = device or standalone_device()
        self.gpus_per_worker = gpus_per_worker if gpus_per_worker is not None else float(self.device.type == "cuda")
        self.nodes = nodes
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.stop_requested = False
        self.finishing = False  # scoring the final figures: the weights are final and checkpointed

        started = time.perf_counter()
        torch.manual_seed(config.seed)
        self._build_networks()
        self.checkpoints = self.run_dir / "checkpoints"
        checkpoint = load_checkpoint(resume_from or self.checkpoints / "last.pt") if resume or resume_from else None
        if resume_from is not None:
            self._carry_history(resume_from)
        # A resumed run keeps the precision it started with, wherever it resumes.
        self.precision = (checkpoint or {}).get("precision") or resolve_precision(config.precision, self.device)
        self.memory_format = memory_format(self.precision, self.device)
        for module in (self.model, self.discriminator):
            if module is not None:
                module.to(memory_format=self.memory_format)
        self._build_losses_and_scorers()
        self._build_optimizers()
        self.model_build_s = time.perf_counter() - started  # models, losses and optimisers: start-up figures
        self.sampler = self._patch_sampler()
        self.sampler_rng = torch.Generator().manual_seed(config.seed)
        self.iteration, self.best_psnr, self.elapsed = 0, -math.inf, 0.0
        self.last_validation: dict[str, float] = {}

        if checkpoint is not None:
            self._restore(checkpoint)
        elif config.generator_init:
            self.model.load_state_dict(load_checkpoint(Path(config.generator_init))["model"])
        if self.rank == 0:
            mark_run_folder(self.run_dir)
            (self.run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    def _patch_sampler(self) -> PatchSampler:
        config = self.config
        return PatchSampler(
            config.train_set,
            config.scale,
            config.patch_size,
            self.network.channels,
            self.network.input_kind,
            self.data_root,
            config.train_images,
            conditions=self.condition_source,
            device=self.device,
        )

    def _carry_history(self, resume_from: Path) -> None:
        """A new attempt's folder (a sweep trial restarted by Ray) continues the history its checkpoint carries."""
        history = self.run_dir / "history.jsonl"
        if (resume_from.parent / "history.jsonl").exists() and not history.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(resume_from.parent / "history.jsonl", history)

    def _build_losses_and_scorers(self) -> None:
        """The content and pixel losses, and the final figures' metrics with their weights loaded once (a metric
        that cannot get its weights is left unscored, labelled)."""
        config = self.config
        self.perceptual = (
            content_loss(config.content_loss, config.vgg_weights).to(self.device)
            if config.content_loss != "pixel"
            else None
        )
        self.pixel_loss = pixel_loss(config.pixel_loss)
        self.final_scorers = prepare(config.scored_metrics(), config.weight_settings, lenient=True)

    def _build_networks(self) -> None:
        """The generator, its traits and condition source, and the discriminator of a GAN, on the device."""
        config = self.config
        self.model = cross_rank_batchnorm(build_model(config.model), self.device, self.distributed).to(self.device)
        # SFT-GAN, SFT on or off: the maps condition the generator (on) and label the
        # discriminator's category head (both), so the ablation changes only the conditioning.
        self.network = traits(self.model)
        self.condition_source = (
            build_condition_source(self.network.condition_config) if self.network.condition_config is not None else None
        )
        discriminator = entry_for(config.model).discriminator
        self.discriminator = (
            cross_rank_batchnorm(build_model({"name": discriminator}), self.device, self.distributed).to(self.device)
            if config.is_gan
            else None
        )

    def _build_optimizers(self) -> None:
        """An optimiser and a schedule per network, and the networks as DDP trains them."""
        config = self.config
        self.optimizers = {
            "generator": build_optimizer(
                config.optimizer, parameter_groups(self.model, config.lr, config.last_layer_lr_scale), config.momentum
            )
        }
        if self.discriminator is not None:
            self.optimizers["discriminator"] = build_optimizer(
                config.optimizer,
                parameter_groups(self.discriminator, config.discriminator_lr or config.lr),
                config.momentum,
            )
        # The discriminator steps only in the adversarial phase: its step count starts there.
        offsets = {"generator": 0, "discriminator": config.pretrain_iterations}
        self.schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, lambda step, o=offsets[name]: lr_factor(config, step + o))
            for name, opt in self.optimizers.items()
        }
        self.train_model = DistributedDataParallel(self.model) if self.distributed else self.model
        self.train_discriminator = (
            DistributedDataParallel(self.discriminator)
            if self.distributed and self.discriminator is not None
            else self.discriminator
        )

    # -- one iteration ----------------------------------------------------------------------
    def _autocast(self):
        return autocast(self.precision, self.device)

    def _to_range(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images in the range the pixel loss and the discriminator work in (``target_range``)."""
        return images * 2 - 1 if self.config.target_range == "-1,1" else images

    def _discriminate(self, module: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = module(images)
        return out if isinstance(out, tuple) else (out, None)

    def _discriminator_step(
        self, target: torch.Tensor, sr: torch.Tensor, categories: torch.Tensor | None
    ) -> torch.Tensor:
        """One update of the discriminator: real HR and (detached) SR in one forward pass, one DDP reduction."""
        with self._autocast():
            logits, category_logits = self._discriminate(self.train_discriminator, torch.cat([target, sr.detach()]))
            n = len(target)
            d_loss = discriminator_loss(logits[:n].float(), logits[n:].float())
            if category_logits is not None:  # SFT-GAN's category head learns on real and fake images
                d_loss = d_loss + category_loss(category_logits.float(), categories.repeat(2))
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["discriminator"].step()
        self.schedulers["discriminator"].step()
        return d_loss.detach()

    def _step(self, batch: Batch) -> dict[str, torch.Tensor | float]:
        """One update; the losses stay tensors on the device (read every ``log_every``: no host sync per step)."""
        c = self.config
        x = batch.inputs.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        target = batch.targets.to(self.device, non_blocking=True)
        extra, categories = (), None
        if self.condition_source is not None:
            probabilities = batch.conditions.to(self.device)
            extra = (probabilities,) if self.network.needs_condition else ()
            categories = probabilities.mean(dim=(2, 3)).argmax(dim=1)  # each patch's dominant category
        border = self.network.border
        if border:
            target = target[..., border:-border, border:-border]
        pretraining = self.iteration < c.pretrain_iterations
        adversarial_phase = self.discriminator is not None and not pretraining
        metrics: dict[str, float] = {}
        with self._autocast():
            sr = self.train_model(x, *extra).float()
        if adversarial_phase:
            metrics["d_loss"] = self._discriminator_step(self._to_range(target), self._to_range(sr), categories)
            # Frozen for the generator's update: no gradient is computed for it, and the plain module
            # (not its DDP wrapper) runs, so nothing of it is all-reduced.
            self.discriminator.requires_grad_(False)
        with self._autocast():
            content = (
                self.pixel_loss(self._to_range(sr), self._to_range(target))
                if pretraining or self.perceptual is None
                else self.perceptual(sr, target)
            )
            loss = content
            if adversarial_phase:
                fake_logits, fake_categories = self._discriminate(self.discriminator, self._to_range(sr))
                adversarial = generator_adversarial_loss(fake_logits.float())
                if fake_categories is not None:
                    adversarial = adversarial + category_loss(fake_categories.float(), categories)
                loss = content + c.adversarial_weight * adversarial
                metrics["adversarial"] = adversarial.detach()
        self.optimizers["generator"].zero_grad(set_to_none=True)
        loss.backward()
        if adversarial_phase:
            self.discriminator.requires_grad_(True)
        self.optimizers["generator"].step()
        self.schedulers["generator"].step()
        metrics.update(loss=loss.detach(), lr=self.optimizers["generator"].param_groups[0]["lr"])
        if self.discriminator is not None:  # without an adversarial term the content loss is the loss
            metrics["content"] = content.detach()
        return metrics

    # -- validation, checkpoints, records ---------------------------------------------------
    def evaluate(
        self,
        set_names: Sequence[str],
        scorers: list[Scorer] | None = None,
        on_sr: Callable[[str, str, torch.Tensor], None] | None = None,
    ) -> list[SetScore]:
        specs = [get_spec(n) for n in set_names]
        if self.distributed:  # rank 0's BatchNorm statistics everywhere: every row scores the model rank 0 saves
            for buffer in self.model.buffers():
                dist.broadcast(buffer, 0)
        with fp32_scoring(self.model, self.memory_format) as model:
            return evaluate_model(
                SuperResolver(model, self.condition_source),
                specs,
                [self.config.scale],
                self.data_root,
                limit=self.config.val_images,
                rank=self.rank,
                world=self.world,
                scorers=scorers,
                device=self.device,
                on_sr=on_sr,
            )

    def _state(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "model": self.model.state_dict(),
            "discriminator": self.discriminator.state_dict() if self.discriminator is not None else None,
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "sampler_rng": self.sampler_rng.get_state(),
            "precision": self.precision,
            "torch_rng": torch.get_rng_state(),
            "best_psnr": self.best_psnr,
            "elapsed": self.elapsed,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        self.sampler_rng.set_state(state["sampler_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.iteration, self.best_psnr, self.elapsed = state["iteration"], state["best_psnr"], state["elapsed"]
        if self.rank == 0:  # drop records written after the checkpoint: they will be redone
            history = self.run_dir / "history.jsonl"
            if history.exists():
                rows = [
                    line
                    for line in history.read_text().splitlines()
                    if line and json.loads(line)["iteration"] <= self.iteration
                ]
                history.write_text("".join(r + "\n" for r in rows))

    def _save(self, best: bool) -> None:
        if self.rank == 0:
            state = self._state()
            save_checkpoint(state, self.checkpoints / "last.pt")
            history = self.run_dir / "history.jsonl"
            if history.exists():  # the history so far travels with the checkpoint (Ray storage keeps only that)
                shutil.copyfile(history, self.checkpoints / "history.jsonl")
            if best:  # for scoring and fine-tuning: weights only (resuming starts from last.pt)
                save_checkpoint(
                    {k: state[k] for k in ("config", "iteration", "model", "best_psnr", "precision")},
                    self.checkpoints / "best.pt",
                )
        if self.distributed:
            dist.barrier()

    def _record(self, row: dict[str, Any]) -> None:
        if self.rank == 0:
            with open(self.run_dir / "history.jsonl", "a") as f:
                f.write(json.dumps({"iteration": self.iteration, **row}) + "\n")

    def _report(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        for callback in self.callbacks:
            callback.report(self.iteration, metrics, checkpoint)

    def _stop_asked(self) -> bool:
        """A callback's stop request (rank 0 asks), the same answer on every rank so all stop together."""
        asked = self.rank == 0 and any(getattr(cb, "stop_requested", lambda: False)() for cb in self.callbacks)
        if self.distributed:
            flag = torch.tensor([int(asked)])
            dist.broadcast(flag, 0)
            asked = bool(flag.item())
        return asked

    def _validate_and_checkpoint(self, progress: Progress) -> None:
        scores = self.evaluate(self.config.val_sets)
        metrics = {f"val/{s.set}/{k}": getattr(s, k) for s in scores for k in ("psnr_y", "ssim_y")}
        psnr = scores[0].psnr_y
        improved = psnr > self.best_psnr
        self.best_psnr = max(self.best_psnr, psnr)
        self._record(metrics)
        self._save(best=improved)
        self.last_validation = metrics
        progress.set_validation(f"{scores[0].set} {psnr:.2f} dB")
        self._report(metrics, self.checkpoints)

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, stop_at: int | None = None) -> dict[str, Any] | None:
        """Train to the end (returns the final results) or until ``stop_at`` iterations or a
        stop request (saves a checkpoint to resume from and returns None)."""
        c = self.config
        total = c.total_iterations
        end = min(total, stop_at) if stop_at is not None else total
        progress = Progress(total, self.iteration, c.log_every, enabled=self.show_progress and self.rank == 0)
        self.model.train()
        started = time.perf_counter()
        try:
            while self.iteration < end:
                step = self._step(self.sampler.sample(self.sampler_rng, c.batch_size, self.rank, self.world))
                self.iteration += 1
                if self.iteration % c.log_every == 0:
                    metrics = {k: float(v) for k, v in step.items()}  # the one host sync per log interval
                    progress.update(self.iteration, metrics["loss"])
                    phase = "pretrain" if self.iteration <= c.pretrain_iterations else "train"
                    self._record({"phase": phase, **metrics})
                    self._report({f"train/{k}": v for k, v in metrics.items()}, None)
                    self.stop_requested = self.stop_requested or self._stop_asked()
                else:
                    progress.update(self.iteration)
                if self.iteration % c.val_every == 0 or self.iteration == total:
                    self.elapsed += time.perf_counter() - started
                    started = time.perf_counter()
                    self._validate_and_checkpoint(progress)
                if self.stop_requested:
                    break
        finally:
            progress.close()
        self.elapsed += time.perf_counter() - started
        # A stop that came during the last iterations (a signal, a scheduler's) still stops before the final scoring.
        if self.iteration < total or self.stop_requested or self._stop_asked():
            self._save(best=False)
            return None
        return self._finish()

    def _save_crops(self, firsts: dict[str, tuple[str, torch.Tensor]]) -> None:
        """A fixed crop of the first image of each evaluation set, super-resolved (``crops/<set>-<image>.png``),
        so leaderboards can show variants side by side without the model; ``firsts``: each set's first image and
        its SR image, as the final scoring made it (by the set's name: a folder set's differs from its field's)."""
        (self.run_dir / "crops").mkdir(exist_ok=True)
        for name in self.config.eval_sets:
            spec = get_spec(name)
            image_name, sr = firsts[spec.name]
            [(_, hr)] = load_set(spec, self.data_root, limit=1)
            box = crop_box(modcrop(hr, self.config.scale))
            save_png(crop(sr, box), self.run_dir / "crops" / crop_file(name, image_name))

    def _finish(self) -> dict[str, Any]:
        self.finishing = True
        firsts: dict[str, tuple[str, torch.Tensor]] = {}  # rank 0 makes each set's first image: kept for the crops
        # Every chosen metric here; validations score the protocol's figures only (LPIPS is slow).
        scores = self.evaluate(
            self.config.eval_sets, self.final_scorers, lambda s, image, sr: firsts.setdefault(s, (image, sr))
        )
        if self.rank == 0:
            self._save_crops(firsts)
        results = {
            "config": self.config.to_dict(),
            "iterations": self.iteration,
            "wall_time_s": round(self.elapsed, 1),
            "precision": self.precision,
            "hardware": describe_trial_hardware(self.device, self.world, self.gpus_per_worker, self.nodes),
            "world_size": self.world,
            "gpus_per_worker": self.gpus_per_worker,
            "nodes": self.nodes,
            "parameters": count_parameters(self.model),
            "macs_per_mp": macs_per_output_megapixel(build_model(self.config.model), self.config.scale),
            "eval_images": (f"first {self.config.val_images} per set (subset)" if self.config.val_images else "all"),
            "vgg_weights": self.perceptual.vgg.weights_label if self.perceptual is not None else None,
            "condition_source": self.condition_source.describe() if self.condition_source is not None else None,
            # How pages show each metric scored, and the weights of those that take some (or why they are missing).
            "metrics": [s.metric.describe() for s in self.final_scorers],
            "metric_weights": {s.name: s.note for s in self.final_scorers if s.metric.weights is not None},
            "sets": [s.as_dict() for s in scores],
        }
        if self.rank == 0:
            (self.run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        # The last validation again (never logged twice), with the final checkpoint: a search algorithm reads the
        # final report's validation figure. The final figures reach MLflow from the results, once.
        self._report(self.last_validation, self.checkpoints)
        return results


def cross_rank_batchnorm(module: torch.nn.Module, device: torch.device, distributed: bool) -> torch.nn.Module:
    """Under DDP on GPUs, BatchNorm over the whole batch rather than each rank's share (SyncBatchNorm), so a trial's
    results do not depend on its number of workers. Gloo (CPU) has no SyncBatchNorm: there each rank normalises
    its share of the batch, and rank 0's running statistics are broadcast before scoring."""
    if distributed and device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module
