"""The supervised training loop of the deep deblurring methods (torch).

Imported lazily by `mmdf_bench.methods.deblur_base`.
"""

import math

import torch
from mmdf_bench.progress import progress_bar

from mmdf_bench.devices import fork_rng, module_device, prefetch


def make_optimizer(parameters, *, learning_rate, betas=(0.9, 0.999), weight_decay=0.0):
    """Adam over `parameters`."""
    return torch.optim.Adam(parameters, lr=learning_rate, betas=tuple(betas), weight_decay=weight_decay)


def make_scheduler(optimizer, schedule, total_steps):
    """None for a constant rate, else a per-step scheduler."""
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(int(total_steps), 1))
    raise ValueError(f"unknown schedule {schedule!r}; use 'constant' or 'cosine'")


def progress(total, description):
    """A progress bar on stderr that disappears when done (silenced by ``--quiet``)."""
    return progress_bar(total, description, leave=False, mininterval=1.0)


def supervised_training(network, sampler, *, loss, epochs, batch_size, learning_rate, seed,
                        steps_per_epoch=None, betas=(0.9, 0.999), weight_decay=0.0, schedule="constant",
                        inputs_of=None, targets_of=None, parameters=None, optimizer=None, description="training"):
    """Train `network` with Adam on batches of `sampler`.

    Parameters
    ----------
    network : torch.nn.Module
        Trained in place (train mode during, eval mode after).
    sampler : mmdf_bench.methods.deblur_base.PairSampler
        Yields ``(blurred, sharp)`` numpy batches.
    loss : callable
        ``loss(prediction, target) -> scalar tensor``.
    epochs, batch_size : int
    learning_rate : float
    seed : int
        Seeds torch's generator for the run (dropout, noise layers); the
        crops come from the sampler's own numpy generator.
    steps_per_epoch : int, optional
        Batches per epoch; by default one crop per training pair.
    betas, weight_decay
        Adam settings.
    schedule : {"constant", "cosine"}
    inputs_of, targets_of : callable, optional
        Map the ``(blurred, sharp)`` tensors to the network input and the
        loss target (default: blurred and sharp). Layer-wise pre-training
        uses them to feed codes instead of images.
    parameters : iterable of Tensor, optional
        What the optimiser updates (default: all of `network`'s parameters).
    optimizer : torch.optim.Optimizer, optional
        Use this optimiser instead of Adam (then `parameters`, `learning_rate`,
        `betas` and `weight_decay` are not used except by the schedule).
    description : str
        Label of the progress bar.

    Returns
    -------
    history : list of float
        Mean loss of each epoch.
    """
    per_epoch = steps_per_epoch or math.ceil(len(sampler) / batch_size)
    total = int(epochs) * int(per_epoch)
    if optimizer is None:
        optimizer = make_optimizer(network.parameters() if parameters is None else parameters,
                                   learning_rate=learning_rate, betas=betas, weight_decay=weight_decay)
    scheduler = make_scheduler(optimizer, schedule, total)
    history = []
    network.train()
    device = module_device(network)
    with fork_rng(device), progress(total, description) as bar:
        torch.manual_seed(seed)
        batches = prefetch(sampler.batches(batch_size, total), device)
        for _ in range(int(epochs)):
            running = 0.0
            for _ in range(int(per_epoch)):
                blurred, sharp = next(batches)
                source = blurred if inputs_of is None else inputs_of(blurred, sharp)
                target = sharp if targets_of is None else targets_of(blurred, sharp)
                value = loss(network(source), target)
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                running += value.item()
                bar.update(1)
            history.append(running / per_epoch)
            bar.set_postfix(loss=f"{history[-1]:.5f}")
    network.eval()
    return history
