"""The LightningModule of every run: a base net (k=0) or a transferred one (layers 1..k copied)."""

import copy
import inspect

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.classification import MulticlassAccuracy

from transfer_lab.data.augment import DeviceAugment
from transfer_lab.models.surgery import freeze_layers, frozen_prefix, trainable_parameters


def log_training_loss(module: pl.LightningModule, loss: torch.Tensor) -> None:
    """Logs train/loss on the steps Lightning writes it out (every trainer.log_every_n_steps): the same
    values reach the loggers and the progress bar, and the other steps skip Lightning's bookkeeping of a
    logged value (~1 ms: 10-25% of a small net's CPU step)."""
    if (module.global_step + 1) % module.trainer.log_every_n_steps == 0:
        module.log("train/loss", loss, prog_bar=True)


def optimize(module: pl.LightningModule, loss: torch.Tensor) -> None:
    """One training step on `loss`, taken in training_step (module.automatic_optimization = False): backward,
    the optimizer's step (Lightning's LightningOptimizer: it counts the global step), the schedule's step.
    Lightning's automatic loop takes the same step through a closure and more hooks (zero_grad's, called on every
    callback too, and optimizer_step): 0.1-0.2 ms of host time a step, 2-4% of a small net's CPU step
    (docs/benchmark.md#the-loop-on-the-cpu)."""
    module.manual_backward(loss)  # Lightning's precision plugin scales it under 16-mixed
    optimizer = module.optimizers()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    schedule = module.lr_schedulers()
    if schedule is not None:
        schedule.step()


# Where a checkpoint's fit loop counts the optimizer steps taken (the global step), in either loop.
AUTOMATIC_STEPS = "epoch_loop.automatic_optimization.optim_progress"
MANUAL_STEPS = "epoch_loop.manual_optimization.optim_step_progress"


def carry_step_count(checkpoint: dict) -> None:
    """A checkpoint from before optimize() counted its steps in Lightning's automatic loop: the manual loop
    takes the count over, so that a run interrupted then resumes at its step instead of step 0."""
    loop = checkpoint.get("loops", {}).get("fit_loop", {})
    if AUTOMATIC_STEPS in loop and loop.get(MANUAL_STEPS, {}).get("total", {}).get("completed", 0) == 0:
        loop[MANUAL_STEPS] = copy.deepcopy(loop[AUTOMATIC_STEPS]["optimizer"]["step"])


def rng_state() -> tuple[torch.Tensor, torch.Tensor | None]:
    """The global RNG states that dropout draws from (the CPU's, and the current GPU's if any)."""
    return torch.get_rng_state(), torch.cuda.get_rng_state() if torch.cuda.is_available() else None


def set_rng_state(state: tuple[torch.Tensor, torch.Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state[1])


class TransferModule(pl.LightningModule):
    """Trains `net` on uint8 batches. The first `frozen_layers` layers run without autograd.

    optimizer / scheduler are partials (Hydra `_partial_: true`) completed here with the
    parameter groups: weights with weight decay, biases at bias_lr_mult x lr and no decay.
    The convolutions run channels-last; on a GPU the optimizer step is one fused kernel (unless the
    recipe sets `fused` itself); `compile=True` runs the layers through torch.compile (`compile_mode`:
    its mode, e.g. "reduce-overhead" for CUDA graphs).
    """

    def __init__(
        self,
        net: nn.Module,
        augment: DeviceAugment,
        optimizer,
        scheduler=None,
        bias_lr_mult: float = 1.0,
        frozen_layers: int = 0,
        top5: bool = True,
        compile: bool = False,
        compile_mode: str | None = None,
    ):
        super().__init__()
        self.automatic_optimization = False  # training_step steps the optimizer: optimize()
        self.net = net
        self.augment = augment
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.bias_lr_mult = bias_lr_mult
        freeze_layers(net, frozen_layers)
        self.frozen_layers = frozen_prefix(net)
        logits = net.fc8.out_features
        self.val_top1 = MulticlassAccuracy(num_classes=logits, top_k=1, average="micro")
        self.val_top5 = (
            MulticlassAccuracy(num_classes=logits, top_k=5, average="micro") if top5 and logits > 5 else None
        )
        self.val_top1_history: list[float] = []
        self.last_val_top5: float | None = None
        self.validated_at_step = -1  # global step of the last validation (run/fit.py validates the final weights once)
        # Channels-last weights and inputs: cuDNN's fastest convolutions take NHWC tensors, and on the
        # CPU oneDNN's max-pooling ran ~4x faster on them (a small net's whole step: 1.2-1.3x).
        self.memory_format = torch.channels_last
        self.net.to(memory_format=self.memory_format)
        self.compiled = compile
        self.run_layers = torch.compile(self.layers, mode=compile_mode) if compile else self.layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run_layers(x.contiguous(memory_format=self.memory_format))

    def layers(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Layers start+1..8 on x: the input (start=0) or layer `start`'s signal, before its dropout (run/fused.py)."""
        layers = list(self.net.children())
        if start:
            x = layers[start - 1].noise(x)
        with torch.no_grad():  # frozen prefix: no graph is built, so no backward runs below layer k+1
            for layer in layers[start : self.frozen_layers]:
                x = layer(x)
        for layer in layers[max(start, self.frozen_layers) :]:
            x = layer(x)
        return x

    def training_step(self, batch, batch_idx):
        images, labels = batch
        loss = self.training_loss(self.augment(images, train=True), labels)
        log_training_loss(self, loss)
        optimize(self, loss)
        return loss

    def training_loss(self, crops: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss a training step minimises on a batch of augmented crops (the bench's model-only step too)."""
        return F.cross_entropy(self(crops), labels)

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        self.log("val/loss", self.score(self(self.augment(images, train=False)), labels))

    def on_validation_epoch_end(self):
        top1, top5 = self.close_validation(None if self.trainer.sanity_checking else self.trainer.global_step)
        self.log("val/top1", top1, prog_bar=True)
        if top5 is not None:
            self.log("val/top5", top5)

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Adds a validation batch to the top-1/top-5 metrics; returns its loss."""
        self.val_top1.update(logits, labels)
        if self.val_top5 is not None:
            self.val_top5.update(logits, labels)
        return F.cross_entropy(logits, labels)

    def close_validation(self, step: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Top-1 and top-5 of the validation that ended, kept in the history as of `step` (None: a sanity check)."""
        top1 = self.val_top1.compute()
        self.val_top1.reset()
        top5 = None
        if self.val_top5 is not None:
            top5 = self.val_top5.compute()
            self.val_top5.reset()
        if step is not None:
            self.val_top1_history.append(float(top1))
            self.last_val_top5 = None if top5 is None else float(top5)
            self.validated_at_step = step
        return top1, top5

    def configure_optimizers(self):
        return self.solver(self.parameter_groups())

    def parameter_groups(self) -> list[dict]:
        """The weights that train, with weight decay; their biases at bias_lr_mult x lr, without."""
        weights, biases = trainable_parameters(self.net)
        lr = self.optimizer_factory.keywords["lr"]
        return [{"params": weights}, {"params": biases, "lr": lr * self.bias_lr_mult, "weight_decay": 0.0}]

    def solver(self, groups: list[dict], total_steps: int | None = None):
        """The recipe's optimizer over `groups` and its schedule, stepped every training step.

        A schedule with `total_iters: null` (recipe=embedded's linear decay) runs over `total_steps`
        (default: the run's, from its Trainer): it ends with the run for either half, a scarce target
        (the full half's steps) or all 20 classes, where a fixed length would stop short or run past the end."""
        optimizer = self.optimizer_factory(groups, **self.fused_step())
        if self.scheduler_factory is None:
            return optimizer
        length = {}
        if self.scheduler_factory.keywords.get("total_iters", 0) is None:
            length["total_iters"] = int(total_steps or self.trainer.estimated_stepping_batches)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer, **length), "interval": "step"},
        }

    def fused_step(self) -> dict:
        """fused=True on a GPU where the optimizer has it: one kernel per step instead of a loop over
        the parameters, whose launches were the largest host cost per step on an H100 (issue 10)."""
        factory = self.optimizer_factory
        if (
            self.device.type != "cuda"
            or "fused" in factory.keywords
            or "fused" not in inspect.signature(factory.func).parameters
        ):
            return {}
        return {"fused": True}

    def on_save_checkpoint(self, checkpoint):
        checkpoint["val_top1_history"] = self.val_top1_history
        checkpoint["validated_at_step"] = self.validated_at_step
        checkpoint["last_val_top5"] = self.last_val_top5
        # Where the random streams are, so that a resumed run draws what the uninterrupted one would have
        # (the training order's position is the datamodule's state).
        checkpoint["crop_draws"] = self.augment.draws_state()
        checkpoint["dropout_draws"] = rng_state()

    def on_load_checkpoint(self, checkpoint):
        carry_step_count(checkpoint)
        self.val_top1_history = list(checkpoint.get("val_top1_history", []))
        self.validated_at_step = checkpoint.get("validated_at_step", -1)
        self.last_val_top5 = checkpoint.get("last_val_top5")
        self.augment.resume_draws(checkpoint.get("crop_draws"))
        if "dropout_draws" in checkpoint:
            set_rng_state(checkpoint["dropout_draws"])
