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

The MMDF paper compares against these without publishing their training
settings; the ``paper`` profiles state where each value comes from.

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
                  parameters=None):
        """Train `module` for `epochs` epochs (mean squared error) and record its losses as stage `stage`.

        `inputs_of`, `targets_of` and `parameters` are passed on to
        `mmdf_bench.methods.deblur_training.supervised_training`; the other settings
        come from the profile.
        """
        import torch.nn.functional as F

        from mmdf_bench.methods.deblur_training import supervised_training

        history = supervised_training(module, sampler, loss=F.mse_loss, seed=seed, inputs_of=inputs_of,
                                      targets_of=targets_of, parameters=parameters,
                                      description=self.progress_label(stage), **self.loop_options(epochs=epochs))
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

    ``paper``: Vincent et al.'s masking noise of 25 % and layer-wise
    pre-training before supervised fine-tuning; Adam, learning rate 1e-3,
    20 pre-training and 100 fine-tuning epochs of 128x128 crops in batches
    of 16 are our choice (Vincent et al. used plain SGD on small images).
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
        "paper": {"crop": 128, "batch_size": 16, "pretrain_epochs": 20, "epochs": 100, "learning_rate": 1e-3,
                  "corruption": 0.25},
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
            self.run_stage(f"layer-{index + 1}", module, sampler, seed=seed + index, epochs=hp["pretrain_epochs"],
                           inputs_of=inputs_of, targets_of=targets_of,
                           parameters=[*network.encoders[index].parameters(), *network.decoders[index].parameters()])
        return self.run_stage("fine-tune", network, sampler, seed=seed + network.num_layers, epochs=hp["epochs"])


class CoupledAutoencoderDeblur(StagedDeblurMethod):
    """Coupled deep autoencoder (Zeng et al. 2017), applied over every patch of the image.

    Stages (names in `stage_history`), each for ``pretrain_epochs`` but
    the last: ``blurred-autoencoder`` (blurred -> blurred),
    ``sharp-autoencoder`` (sharp -> sharp), ``mapping`` (blurred code ->
    sharp code, both encoders frozen), then ``fine-tune`` for ``epochs``:
    blurred encoder, mapping and sharp decoder jointly, blurred -> sharp.
    All use mean squared error and Adam.

    ``paper``: Zeng et al.'s three-stage scheme (two autoencoders, the
    coupling layer, joint fine-tuning) with 7x7 patches and 128 hidden
    sigmoid units; Adam, learning rate 1e-3, 20 pre-training and 100
    fine-tuning epochs of 128x128 crops are our choice (Zeng et al. used
    L-BFGS / SGD on patch vectors).
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
        "paper": {"crop": 128, "batch_size": 16, "pretrain_epochs": 20, "epochs": 100, "learning_rate": 1e-3,
                  "patch": 7, "hidden": 128, "mapping_hidden": 128},
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
        return self.run_stage("fine-tune", network, sampler, seed=seed + 3, epochs=self.hyperparameters["epochs"],
                              parameters=chain)


__all__ = ["CoupledAutoencoderDeblur", "StackedAutoencoderDeblur", "masking_noise"]
