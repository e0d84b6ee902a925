"""FuseGAN losses, training batches and the adversarial training loop (torch).

Imported lazily by `mmdf_bench.methods.fusegan`.

Losses
------
Discriminator: ``BCE(D(fake), 0) + BCE(D(real), 1)`` averaged over the
points of the patch map, where *real* is the supervision target (the
all-in-focus reference, or another fusion method's output).

Generator: ``w_content * content + w_adversarial * BCE(D(fake), 1) +
w_perceptual * perceptual`` with

* content ``"l1"``: mean absolute difference between output and target;
* content ``"ul1"``: the masked L1 of the MMDF paper,
  ``sum_i mean |output * m_i - plane_i * m_i|`` over the planes i with
  their focus masks m_i: each plane is asked to show through where it is in
  focus, without a reference (`unsupervised_l1`);
* perceptual ``"discriminator"``: mean over the discriminator's seven
  feature maps of the L1 distance between the features of the output and
  of the target; ``"vgg16"``: L1 distance of ImageNet-normalised VGG16
  ``relu3_3`` features (Johnson et al.), when the VGG16 weights are at hand.

Batches
-------
`StackSampler` keeps every training stack packed with its masks and target
into one ``(H, W, C)`` array and draws batches of random crops with the
paper's augmentations, each applied with probability `probability`
(0.5 in the paper) and alike to planes, masks and target: a shift-scale-
rotate (shift up to 6.25 % of the side, scale 0.9 - 1.1, rotation up to 45
degrees, reflected borders, as albumentations' ``ShiftScaleRotate``), then
a horizontal flip, a vertical flip and a rotation by 90, 180 or 270
degrees. The real planes of a stack are put in a random order (fusion does
not depend on it) and zero planes pad the stack up to ``max_planes``.

References
----------
.. [1] A. Kornilova et al., "Deep learning framework for mobile microscopy",
       IEEE ISBI 2021 (arXiv:2007.13701).
.. [2] J. Johnson, A. Alahi and L. Fei-Fei, "Perceptual losses for
       real-time style transfer and super-resolution", ECCV 2016.
.. [3] A. Buslaev et al., "Albumentations: fast and flexible image
       augmentations", Information 11(2):125, 2020.
"""

import copy

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mmdf_bench.devices import fork_rng, module_device, prefetch
from mmdf_bench.methods.deblur_base import pad_to_crop
from mmdf_bench.methods.deblur_training import progress


# -- losses ---------------------------------------------------------------------------------------
def unsupervised_l1(output, planes, masks):
    """The masked uL1 loss ``sum_i mean |output * m_i - plane_i * m_i|``.

    Parameters
    ----------
    output : Tensor, shape (B, 3, H, W)
    planes : Tensor, shape (B, P, 3, H, W)
    masks : Tensor, shape (B, P, H, W)
        Focus masks; zero for padded planes, which then cost nothing.

    Returns
    -------
    Tensor, scalar
        The mean is taken over batch, channels and pixels, the sum over planes.
    """
    weights = masks.unsqueeze(2)
    difference = (output.unsqueeze(1) - planes) * weights
    return difference.abs().mean(dim=(0, 2, 3, 4)).sum()


def adversarial_loss(logits, *, real):
    """Binary cross-entropy of a patch map of logits against all-real or all-fake labels."""
    labels = torch.full_like(logits, 1.0 if real else 0.0)
    return F.binary_cross_entropy_with_logits(logits, labels)


def feature_loss(features, target_features):
    """Mean over layers of the L1 distance between two lists of feature maps."""
    distances = [F.l1_loss(mine, theirs) for mine, theirs in zip(features, target_features)]
    return torch.stack(distances).mean()


# -- batches --------------------------------------------------------------------------------------
def warp_affine(image, matrix):
    """`cv2.warpAffine` of an ``(H, W, C)`` array, bilinear, reflected borders.

    OpenCV interpolates arrays of more than four channels differently from
    the same channels one by one, so the channels go through in groups of four.
    """
    rows, cols = image.shape[:2]
    groups = [cv2.warpAffine(np.ascontiguousarray(image[..., start:start + 4]), matrix, (cols, rows),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
              for start in range(0, image.shape[-1], 4)]
    return np.concatenate([group.reshape(rows, cols, -1) for group in groups], axis=-1)


def shift_scale_rotate(image, rng, *, shift=0.0625, scale=0.1, rotate=45.0):
    """Random shift (fraction of the side), scale (1 +- `scale`) and rotation (degrees) about the centre."""
    rows, cols = image.shape[:2]
    angle = rng.uniform(-rotate, rotate)
    factor = rng.uniform(1.0 - scale, 1.0 + scale)
    matrix = cv2.getRotationMatrix2D(((cols - 1) / 2.0, (rows - 1) / 2.0), angle, factor)
    matrix[0, 2] += rng.uniform(-shift, shift) * cols
    matrix[1, 2] += rng.uniform(-shift, shift) * rows
    return warp_affine(image, matrix)


class StackSampler:
    """Seeded batches of augmented random crops of (stack, masks, target) training items.

    Parameters
    ----------
    items : sequence of (planes, masks, target)
        ``planes`` RGB ``(N, H, W, 3)``, ``masks`` ``(N, H, W)`` or None,
        ``target`` ``(H, W, 3)``; float32. Every item has masks or none has.
    max_planes : int
        Planes of the network input; N must not exceed it.
    crop : int
        Side of the square crops; smaller images are reflect-padded to it.
    rng : numpy.random.Generator
    probability : float
        Probability of each augmentation (0 disables them).
    """

    def __init__(self, items, *, max_planes, crop, rng, probability=0.5):
        if not items:
            raise ValueError("no training stacks")
        self.max_planes, self.crop, self.rng = int(max_planes), int(crop), rng
        self.probability = float(probability)
        self.with_masks = items[0][1] is not None
        self.packed, self.num_planes = [], []
        for planes, masks, target in items:
            count = len(planes)
            if count > self.max_planes:
                raise ValueError(f"a training stack has {count} planes, more than max_planes={self.max_planes}")
            channels = [np.moveaxis(planes, 0, 2).reshape(*planes.shape[1:3], 3 * count)]
            if self.with_masks:
                channels.append(np.moveaxis(masks, 0, 2))
            channels.append(target)
            self.packed.append(pad_to_crop(np.concatenate(channels, axis=-1).astype(np.float32), self.crop))
            self.num_planes.append(count)

    def __len__(self):
        return len(self.packed)

    def augmented_crop(self, index):
        """One augmented ``crop x crop`` window of item `index`, still packed ``(crop, crop, C)``."""
        image, chance = self.packed[index], self.rng.random(4)
        top = self.rng.integers(0, image.shape[0] - self.crop + 1)
        left = self.rng.integers(0, image.shape[1] - self.crop + 1)
        if chance[0] < self.probability:
            # warp a window with a margin so that rotated corners come from real pixels where possible
            margin = self.crop // 4
            rows = slice(max(top - margin, 0), min(top + self.crop + margin, image.shape[0]))
            cols = slice(max(left - margin, 0), min(left + self.crop + margin, image.shape[1]))
            window = shift_scale_rotate(image[rows, cols], self.rng)
            top, left, image = top - rows.start, left - cols.start, window
        window = image[top:top + self.crop, left:left + self.crop]
        if chance[1] < self.probability:
            window = window[:, ::-1]
        if chance[2] < self.probability:
            window = window[::-1]
        if chance[3] < self.probability:
            window = np.rot90(window, int(self.rng.integers(1, 4)))
        return window

    def unpack(self, window, count):
        """Split a packed window into padded planes ``(P, 3, h, w)``, masks ``(P, h, w)`` and target ``(3, h, w)``."""
        rows, cols = window.shape[:2]
        order = self.rng.permutation(count)
        planes = np.zeros((self.max_planes, 3, rows, cols), np.float32)
        planes[:count] = window[..., :3 * count].reshape(rows, cols, count, 3).transpose(2, 3, 0, 1)[order]
        masks = np.zeros((self.max_planes, rows, cols), np.float32)
        if self.with_masks:
            masks[:count] = window[..., 3 * count:4 * count].transpose(2, 0, 1)[order]
        target = window[..., -3:].transpose(2, 0, 1)
        return planes, masks, target

    def batch(self, indices):
        """Arrays ``planes (B, P, 3, c, c)``, ``masks (B, P, c, c)``, ``targets (B, 3, c, c)``."""
        parts = [self.unpack(self.augmented_crop(index), self.num_planes[index]) for index in indices]
        return tuple(np.ascontiguousarray(np.stack(part)) for part in zip(*parts))

    def batches(self, batch_size, steps):
        """Yield `steps` batches, walking through random epoch orders of the items."""
        order, position = self.rng.permutation(len(self)), 0
        for _ in range(steps):
            if position + batch_size > len(order) and position > 0:
                order, position = self.rng.permutation(len(self)), 0
            chosen = order[position:position + batch_size]
            position += batch_size
            yield self.batch(chosen)


def network_input(planes, masks, *, with_masks):
    """Generator input from padded planes ``(B, P, 3, H, W)`` and masks ``(B, P, H, W)``."""
    batch, count, _, rows, cols = planes.shape
    flat = planes.reshape(batch, 3 * count, rows, cols)
    return torch.cat([flat, masks], dim=1) if with_masks else flat


# -- training -------------------------------------------------------------------------------------
def train_fusegan(generator, discriminator, sampler, *, content, perceptual, content_weight, adversarial_weight,
                  perceptual_weight, epochs, steps_per_epoch, batch_size, generator_rate, discriminator_rate,
                  betas, gamma, seed, vgg=None, description="FuseGAN", validate=None):
    """Train generator and discriminator in place, one discriminator step per generator step.

    With `validate`, the generator is scored after every epoch and the
    weights of the best-scoring epoch are kept (model selection on held-out
    data, never on the samples a method is evaluated on).

    Parameters
    ----------
    generator : FuseGANGenerator
    discriminator : PatchDiscriminator
    sampler : StackSampler
    content : {"l1", "ul1"}
    perceptual : {None, "discriminator", "vgg16"}
    content_weight, adversarial_weight, perceptual_weight : float
    epochs, steps_per_epoch, batch_size : int
    generator_rate, discriminator_rate : float
        Adam learning rates.
    betas : tuple of float
        Adam betas of both optimisers.
    gamma : float
        StepLR factor applied to both rates after every epoch.
    seed : int
        Seeds torch's generator for the run (the crops come from the sampler).
    vgg : mmdf_bench.methods.vgg_features.VGGFeatures, optional
        Needed for ``perceptual="vgg16"``.
    description : str
        Progress-bar label.
    validate : callable, optional
        ``validate(generator) -> float``, higher is better; called with the
        generator in evaluation mode after every epoch.

    Returns
    -------
    history : list of dict
        Per epoch: mean ``generator``, ``discriminator``, ``content``,
        ``adversarial`` and ``perceptual`` losses, and with `validate` its
        ``validation`` score and, on the last entry, ``kept_epoch`` (1-based).
    """
    if content not in ("l1", "ul1"):
        raise ValueError(f"unknown content loss {content!r}; use 'l1' or 'ul1'")
    if perceptual not in (None, "discriminator", "vgg16"):
        raise ValueError(f"unknown perceptual loss {perceptual!r}")
    if perceptual == "vgg16" and vgg is None:
        raise ValueError("the vgg16 perceptual loss needs the VGG16 feature extractor")
    with_masks = generator.architecture["masks"]
    optimisers = [torch.optim.Adam(generator.parameters(), lr=generator_rate, betas=tuple(betas)),
                  torch.optim.Adam(discriminator.parameters(), lr=discriminator_rate, betas=tuple(betas))]
    schedulers = [torch.optim.lr_scheduler.StepLR(optimiser, step_size=1, gamma=gamma) for optimiser in optimisers]
    generator_optimiser, discriminator_optimiser = optimisers
    total = int(epochs) * int(steps_per_epoch)
    history, best = [], None
    generator.train()
    discriminator.train()
    device = module_device(generator)
    with fork_rng(device), progress(total, description) as bar:
        torch.manual_seed(seed)
        batches = prefetch(sampler.batches(batch_size, total), device)
        for _ in range(int(epochs)):
            sums = dict.fromkeys(("generator", "discriminator", "content", "adversarial", "perceptual"), 0.0)
            for _ in range(int(steps_per_epoch)):
                planes, masks, target = next(batches)
                fake = generator(network_input(planes, masks, with_masks=with_masks))

                discriminator_loss = (adversarial_loss(discriminator.logits(fake.detach()), real=False)
                                      + adversarial_loss(discriminator.logits(target), real=True))
                discriminator_optimiser.zero_grad(set_to_none=True)
                discriminator_loss.backward()
                discriminator_optimiser.step()

                adversarial = adversarial_loss(discriminator.logits(fake), real=True)
                content_value = (F.l1_loss(fake, target) if content == "l1"
                                 else unsupervised_l1(fake, planes, masks))
                if perceptual == "discriminator":
                    with torch.no_grad():
                        wanted = discriminator.features(target)
                    perceptual_value = feature_loss(discriminator.features(fake), wanted)
                elif perceptual == "vgg16":
                    with torch.no_grad():
                        wanted = vgg(target)
                    perceptual_value = F.l1_loss(vgg(fake), wanted)
                else:
                    perceptual_value = torch.zeros((), device=device)
                generator_loss = (content_weight * content_value + adversarial_weight * adversarial
                                  + perceptual_weight * perceptual_value)
                generator_optimiser.zero_grad(set_to_none=True)
                generator_loss.backward()
                generator_optimiser.step()

                for key, value in (("generator", generator_loss), ("discriminator", discriminator_loss),
                                   ("content", content_value), ("adversarial", adversarial),
                                   ("perceptual", perceptual_value)):
                    sums[key] += float(value.item())
                bar.update(1)
            for scheduler in schedulers:
                scheduler.step()
            history.append({key: value / int(steps_per_epoch) for key, value in sums.items()})
            if validate is not None:
                generator.eval()
                score = float(validate(generator))
                generator.train()
                history[-1]["validation"] = score
                if best is None or score > best[0]:
                    best = (score, len(history), copy.deepcopy(generator.state_dict()))
            bar.set_postfix(content=f"{history[-1]['content']:.4f}", d=f"{history[-1]['discriminator']:.3f}")
    if best is not None:
        generator.load_state_dict(best[2])
        history[-1]["kept_epoch"] = best[1]
    generator.eval()
    discriminator.eval()
    return history
