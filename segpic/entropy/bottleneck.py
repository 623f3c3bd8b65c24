"""Factorized entropy bottleneck with the reference's likelihood arithmetic.

compressai 1.2.8 evaluates the probability of a quantization bin as sigma(u) - sigma(l), with
l, u the cumulative logits at v -/+ 1/2. compressai 1.1 (used by the STF/SegPIC reference code)
and tensorflow-compression evaluate the same quantity as

    P(v) = | sigma(s u) - sigma(s l) |,   s = -sign(l + u),

which reflects the difference into the lower tail where sigmoid has full float precision.
The two agree mathematically but not in float32, so the integer CDF tables built by
``update()`` differ in a few entries and the side streams are not interchangeable.
Using the reference's form here makes every stream byte-identical to the reference's and
lets its bitstreams decode.

The tables are always built on the CPU: built on CUDA they differ in a few entries too
(measured on an H100: every side stream of the conformance vectors differed, and STF then
misdecoded the reference's stream), so a stream would depend on the device that loaded the
model.

Decoding goes through :mod:`segpic.entropy.rans` (compressai's decoder, isolated and checked):
``entropy_coder`` is compressai's coder with a checked ``decode_with_indexes``.
"""
from typing import Tuple

import torch
from compressai.entropy_models import EntropyBottleneck as _CompressAIEntropyBottleneck

from .rans import decode_with_indexes

__all__ = ["EntropyBottleneck"]


class EntropyBottleneck(_CompressAIEntropyBottleneck):
    """compressai's EntropyBottleneck (same parameters and state_dict), with the reference's
    numerically stable bin probability in ``forward`` and in the CDF tables of ``update``,
    and a checked decoder."""

    @property
    def entropy_coder(self) -> "_CheckedCoder":
        return self.__dict__["_checked_coder"]

    @entropy_coder.setter
    def entropy_coder(self, coder) -> None:  # set by compressai's __init__ and __setstate__
        self.__dict__["_checked_coder"] = _CheckedCoder(coder)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_checked_coder", None)
        return state

    def _likelihood(self, inputs: torch.Tensor, stop_gradient: bool = False) -> Tuple[torch.Tensor, ...]:
        lower = self._logits_cumulative(inputs - 0.5, stop_gradient=stop_gradient)
        upper = self._logits_cumulative(inputs + 0.5, stop_gradient=stop_gradient)
        sign = -torch.sign(lower + upper).detach()
        likelihood = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return likelihood, lower, upper

    def update(self, force: bool = False, update_quantiles: bool = False) -> bool:
        """compressai's ``update``, computed on the CPU whatever the module's device."""
        device = self.quantiles.device
        if device.type == "cpu":
            return super().update(force=force, update_quantiles=update_quantiles)
        self.to("cpu")
        try:
            return super().update(force=force, update_quantiles=update_quantiles)
        finally:
            self.to(device)


class _CheckedCoder:
    """compressai's entropy-coder proxy with decoding through :func:`segpic.entropy.rans.decode_with_indexes`."""

    def __init__(self, coder):
        self.coder = coder
        self.name = coder.name

    def encode_with_indexes(self, *args, **kwargs):
        return self.coder.encode_with_indexes(*args, **kwargs)

    def decode_with_indexes(self, string, indexes, cdfs, cdf_lengths, offsets):
        return decode_with_indexes(string, indexes, cdfs, cdf_lengths, offsets, name="side stream")
