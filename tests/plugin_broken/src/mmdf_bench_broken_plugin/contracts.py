"""Classes that import but break the method contract, and one that keeps it."""

from mmdf_bench.tasks.fusion import FusionMethod


class Misnamed(FusionMethod):
    """Registered as 'broken-misnamed' but calls itself something else."""

    name = "another-name"

    def fuse(self, stack):
        return stack.mean(axis=0)


class NotAMethod:
    """Neither a FusionMethod nor anything with a fuse()."""

    name = "broken-not-a-method"
    task = "fusion"


class Works(FusionMethod):
    """A method of the same distribution that is fine: the brokenness of the others must not hide it."""

    name = "broken-plugin-works"
    summary = "per-pixel maximum of the planes"

    def fuse(self, stack):
        return stack.max(axis=0)
