"""Autoencoders trained in stages: stacked denoising and coupled deep autoencoders.

Both are `DeepDeblurMethod` subclasses whose `train_network` runs several
stages of the shared supervised loop, each on a part of the network, and
keeps the per-epoch losses of every stage (`stage_history`, saved in the
checkpoint). Their networks live in `mmdf_bench.methods.deblur_networks`, imported
on first use, so this module does not import torch.

``stacked-autoencoder``
    Three convolutional autoencoder layers (stride-2 4x4 encoders, up-sampling
    convolution decoders, 64-128-256 channels) trained greedily as in
    Vincent et al. (2010): layer 1 maps blurred crops to sharp ones; layer
    k > 1 is a denoising autoencoder of the codes of layer k - 1 (masking
    noise in, clean codes out), with the layers below it frozen. Then the
    whole stack is fine-tuned end to end, blurred -> sharp.
``coupled-autoencoder``
    Coupled deep autoencoder of Zeng et al. (2017), applied densely: an
    autoencoder of blurred patches, one of sharp patches, a one-hidden-layer
    network mapping the blurred code to the sharp code (trained on the
    codes of the two frozen encoders), then the chain blurred encoder ->
    mapping -> sharp decoder fine-tuned jointly, blurred -> sharp.

The ``paper`` profiles use the settings the MMDF paper states for these
comparison methods (SDAE: SGD at 1e-2 layer by layer, then Adam at 1e-4
for 30 epochs; CDA: Adam at 1e-7, lambda = 1, 200 epochs); each class says
where the values the MMDF paper leaves out come from.

References
----------
.. [1] P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio and P.-A. Manzagol,
       "Stacked denoising autoencoders: learning useful representations in
       a deep network with a local denoising criterion", JMLR 11:
       3371-3408, 2010.
.. [2] K. Zeng, J. Yu, R. Wang, C. Li and D. Tao, "Coupled deep autoencoder
       for single image super-resolution", IEEE Transactions on
       Cybernetics 47(1): 27-37, 2017.
.. [3] A. Kornilova et al., "Deep learning framework for mobile microscopy",
       IEEE ISBI 2021, arXiv:2007.13701.
"""

from mmdf_bench.methods.deblur_base import DeepDeblurMethod

MMDF = "A. Kornilova et al., \"Deep learning framework for mobile microscopy\", IEEE ISBI 2021, arXiv:2007.13701"
TRAINED = "trained from scratch on the train split (cached checkpoint)"


class StagedDeblurMethod(DeepDeblurMethod):
    """A `DeepDeblurMethod` whose training is a sequence of named stages.

    `run_stage` trains one module on the shared crop sampler and records
    the stage's per-epoch losses under its name; a subclass's
    `train_stages` calls it once per stage and returns the last stage's
    history (the method's `history`).
    """

    def run_stage(self, stage, module, sampler, *, seed, epochs, inputs_of=None, targets_of=None,
                  parameters=None, optimizer="adam", learning_rate=None, loss=None):
        """Train `module` for `epochs` epochs and record its losses as stage `stage`.

        `inputs_of`, `targets_of` and `parameters` are passed on to
        `mmdf_bench.methods.deblur_training.supervised_training`; the other settings
        come from the profile. `optimizer` is ``"adam"`` (the profile's betas)
        or ``"sgd"`` (plain stochastic gradient descent, no momentum);
        `learning_rate` replaces the profile's; `loss` (default: mean squared
        error) is ``loss(prediction, target)``.
        """
        import torch
        import torch.nn.functional as F

        from mmdf_bench.methods.deblur_training import supervised_training

        options = self.loop_options(epochs=epochs, **({} if learning_rate is None else
                                                      {"learning_rate": learning_rate}))
        chosen = None
        if optimizer == "sgd":
            chosen = torch.optim.SGD(module.parameters() if parameters is None else parameters,
                                     lr=options["learning_rate"])
        elif optimizer != "adam":
            raise ValueError(f"unknown optimizer {optimizer!r}; use 'adam' or 'sgd'")
        history = supervised_training(module, sampler, loss=loss or F.mse_loss, seed=seed, inputs_of=inputs_of,
                                      targets_of=targets_of, parameters=parameters, optimizer=chosen,
                                      description=self.progress_label(stage), **options)
        self._stages[stage] = [float(value) for value in history]
        return history

    def train_network(self, network, sampler, *, seed):
        self._stages = {}
        return self.train_stages(network, sampler, seed=seed)

    def train_stages(self, network, sampler, *, seed):
        """Run every stage on `network`; return the per-epoch losses of the last one."""
        raise NotImplementedError


def masking_noise(codes, fraction):
    """Zero a random `fraction` of the entries of `codes` (Vincent et al.'s masking corruption)."""
    import torch

    if fraction <= 0:
        return codes
    return codes * (torch.rand_like(codes) >= fraction).to(codes.dtype)


class StackedAutoencoderDeblur(StagedDeblurMethod):
    """Stacked denoising autoencoder: three greedily trained layers, then fine-tuning.

    Stages (names in `stage_history`): ``layer-1`` (encoder 1 + decoder 1,
    blurred -> sharp), ``layer-2`` and ``layer-3`` (each a denoising
    autoencoder of the frozen codes below it, a fraction ``corruption`` of
    the code entries zeroed), each for ``pretrain_epochs``; ``fine-tune``
    (the whole stack, blurred -> sharp) for ``epochs``. All use mean
    squared error and Adam.

    ``paper``: the MMDF paper's schedule: each layer pre-trained with plain
    SGD at learning rate 1e-2, then the stack fine-tuned with Adam at 1e-4
    for 30 epochs. Vincent et al.'s masking noise of 25 %; the MMDF paper
    gives no pre-training length, crop or batch: 30 epochs per layer (as
    many as the fine-tuning) of 128x128 crops in batches of 16.
    """

    name = "stacked-autoencoder"
    summary = "stacked denoising autoencoder (3 greedy layers 64-128-256, then fine-tuning), blurred -> sharp"
    citation = (f"P. Vincent et al., \"Stacked denoising autoencoders\", JMLR 11, 2010; compared in {MMDF}")
    weights_source = TRAINED
    profiles = DeepDeblurMethod.with_defaults({
        "smoke": {"crop": 32, "batch_size": 4, "pretrain_epochs": 1, "epochs": 2, "steps_per_epoch": 3,
                  "learning_rate": 1e-3, "corruption": 0.25},
        "cpu": {"crop": 64, "batch_size": 16, "pretrain_epochs": 2, "epochs": 20, "learning_rate": 2e-3,
                "schedule": "cosine", "corruption": 0.25},
        "paper": {"crop": 128, "batch_size": 16, "pretrain_epochs": 30, "pretrain_optimizer": "sgd",
                  "pretrain_learning_rate": 1e-2, "epochs": 30, "learning_rate": 1e-4, "corruption": 0.25},
    })

    def architecture(self):
        return {"kind": "stacked-autoencoder", "channels": [64, 128, 256]}

    def train_stages(self, network, sampler, *, seed):
        import torch

        hp = self.hyperparameters
        for index in range(network.num_layers):
            if index == 0:
                # The first layer already does the task: the blurred image in, the sharp one out.
                module = network.prefix(1)
                inputs_of, targets_of = None, None
            else:
                module = network.layer(index)

                def clean_codes(blurred, sharp, depth=index):
                    with torch.no_grad():
                        return network.encode(blurred, depth)

                def corrupted_codes(blurred, sharp, depth=index):
                    return masking_noise(clean_codes(blurred, sharp, depth), hp["corruption"])

                inputs_of, targets_of = corrupted_codes, clean_codes
            # the cpu and smoke profiles pre-train with the fine-tuning's Adam; paper with SGD
            self.run_stage(f"layer-{index + 1}", module, sampler, seed=seed + index, epochs=hp["pretrain_epochs"],
                           inputs_of=inputs_of, targets_of=targets_of,
                           parameters=[*network.encoders[index].parameters(), *network.decoders[index].parameters()],
                           optimizer=hp.get("pretrain_optimizer", "adam"),
                           learning_rate=hp.get("pretrain_learning_rate"))
        return self.run_stage("fine-tune", network, sampler, seed=seed + network.num_layers, epochs=hp["epochs"])


class CoupledAutoencoderDeblur(StagedDeblurMethod):
    """Coupled deep autoencoder (Zeng et al. 2017), applied over every patch of the image.

    Stages (names in `stage_history`), each for ``pretrain_epochs`` but
    the last: ``blurred-autoencoder`` (blurred -> blurred),
    ``sharp-autoencoder`` (sharp -> sharp), ``mapping`` (blurred code ->
    sharp code, both encoders frozen), then ``fine-tune`` for ``epochs``:
    blurred encoder, mapping and sharp decoder jointly, blurred -> sharp.
    All use mean squared error and Adam.

    ``paper``: the MMDF paper's Adam at learning rate 1e-7, lambda = 1 and
    200 epochs. lambda weighs the coupling term in the joint fine-tuning,
    ``MSE(restored, sharp) + lambda * MSE(mapping(blurred code), sharp code)``
    (the sharp code from the sharp encoder, held fixed), so the mapping keeps
    matching the sharp autoencoder's code while the chain is tuned. Zeng et
    al.'s 7x7 patches and 128 hidden units; the MMDF paper gives no
    pre-training length, crop or batch: each pre-training stage also runs
    200 epochs, on 128x128 crops in batches of 16.
    """

    name = "coupled-autoencoder"
    summary = "coupled deep autoencoder (blurred and sharp patch autoencoders + code mapping, fine-tuned)"
    citation = (f"K. Zeng et al., \"Coupled deep autoencoder for single image super-resolution\", IEEE Trans. "
                f"Cybernetics 47(1), 2017; compared in {MMDF}")
    weights_source = TRAINED
    profiles = DeepDeblurMethod.with_defaults({
        "smoke": {"crop": 32, "batch_size": 4, "pretrain_epochs": 1, "epochs": 2, "steps_per_epoch": 3,
                  "learning_rate": 5e-3, "patch": 7, "hidden": 32, "mapping_hidden": 32},
        "cpu": {"crop": 64, "batch_size": 16, "pretrain_epochs": 2, "epochs": 20, "learning_rate": 5e-3,
                "schedule": "cosine", "patch": 7, "hidden": 64, "mapping_hidden": 64},
        "paper": {"crop": 128, "batch_size": 16, "pretrain_epochs": 200, "epochs": 200, "learning_rate": 1e-7,
                  "coupling_weight": 1.0, "patch": 7, "hidden": 128, "mapping_hidden": 128},
    })

    def architecture(self):
        hp = self.hyperparameters
        return {"kind": "coupled-autoencoder", "patch": int(hp["patch"]), "hidden": int(hp["hidden"]),
                "mapping_hidden": int(hp["mapping_hidden"])}

    def train_stages(self, network, sampler, *, seed):
        import torch

        epochs = self.hyperparameters["pretrain_epochs"]

        def blurred_images(blurred, sharp):
            return blurred

        def sharp_images(blurred, sharp):
            return sharp

        self.run_stage("blurred-autoencoder", network.blurred_autoencoder(), sampler, seed=seed,
                       epochs=epochs, inputs_of=blurred_images, targets_of=blurred_images)
        self.run_stage("sharp-autoencoder", network.sharp_autoencoder(), sampler, seed=seed + 1,
                       epochs=epochs, inputs_of=sharp_images, targets_of=sharp_images)

        def blurred_codes(blurred, sharp):
            with torch.no_grad():
                return network.blurred_encoder(blurred - 0.5)

        def sharp_codes(blurred, sharp):
            with torch.no_grad():
                return network.sharp_encoder(sharp - 0.5)

        self.run_stage("mapping", network.mapping, sampler, seed=seed + 2, epochs=epochs,
                       inputs_of=blurred_codes, targets_of=sharp_codes)
        chain = [*network.blurred_encoder.parameters(), *network.mapping.parameters(),
                 *network.sharp_decoder.parameters()]
        coupling = float(self.hyperparameters.get("coupling_weight", 0.0))
        if coupling:  # paper: the loss also needs the blurred batch, so it travels with the target

            def sharp_and_blurred(blurred, sharp):
                return sharp, blurred

            return self.run_stage("fine-tune", network, sampler, seed=seed + 3,
                                  epochs=self.hyperparameters["epochs"], parameters=chain,
                                  targets_of=sharp_and_blurred, loss=coupled_loss(network, coupling))
        return self.run_stage("fine-tune", network, sampler, seed=seed + 3, epochs=self.hyperparameters["epochs"],
                              parameters=chain)


def coupled_loss(network, coupling_weight):
    """``MSE(restored, sharp) + coupling_weight * MSE(mapping(E_b(blurred)), E_s(sharp))``.

    The sharp code is computed without gradient: the coupling term pulls the
    blurred branch toward the sharp autoencoder's code, not the reverse.
    """
    import torch
    import torch.nn.functional as F

    def loss(restored, target):
        sharp, blurred = target
        mapped = network.mapping(network.blurred_encoder(blurred - 0.5))
        with torch.no_grad():
            wanted = network.sharp_encoder(sharp - 0.5)
        return F.mse_loss(restored, sharp) + coupling_weight * F.mse_loss(mapped, wanted)

    return loss


__all__ = ["CoupledAutoencoderDeblur", "StackedAutoencoderDeblur", "coupled_loss", "masking_noise"]
