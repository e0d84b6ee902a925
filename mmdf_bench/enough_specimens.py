"""How many independent specimens a paired verdict needs before an interval may decide it.

A verdict (*better*, *worse*, *deep better*, ...) claims that a difference
would hold on new specimens. With G specimens whose paired differences all
have the same sign, the exact two-sided sign-flip test of the
specimen-level differences gives p = 2 * 0.5**G at best: below 6 specimens
no data can reach p <= 0.05, however consistent. With so few groups the
bootstrap interval is known to be too narrow [1]_, so an interval that
excludes 0 is not evidence enough. Below `minimum_groups` a verdict
therefore reads `TOO_FEW`; the interval is still reported.

References
----------
.. [1] A. C. Cameron, J. B. Gelbach and D. L. Miller, "Bootstrap-based
       improvements for inference with clustered errors", Review of
       Economics and Statistics 90(3), 414-427, 2008.
"""

__all__ = ["TOO_FEW", "enough_groups", "floor_sentence", "minimum_groups"]

#: The verdict of a comparison on too few specimens.
TOO_FEW = "too few specimens"


def minimum_groups(confidence=0.95):
    """The fewest specimens with which a verdict at `confidence` is possible at all.

    Examples
    --------
    >>> minimum_groups(0.95), minimum_groups(0.99)
    (6, 8)
    """
    groups = 1
    while 2 * 0.5 ** groups > 1 - confidence:
        groups += 1
    return groups


def enough_groups(n_groups, confidence=0.95):
    """True when `n_groups` specimens can support a verdict at `confidence`."""
    return int(n_groups) >= minimum_groups(confidence)


def floor_sentence(confidence=0.95):
    """One sentence for a table footer: the rule, with its numbers."""
    percent = f"{confidence * 100:g}%"
    return (f"a verdict needs at least {minimum_groups(confidence)} specimens and reads *{TOO_FEW}* below "
            f"that (k specimens that all agree give an exact sign-flip p-value of 2 x 0.5^k at best, too "
            f"large for a {percent} verdict)")
