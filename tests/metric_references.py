"""Second implementations of two metrics, written from their papers for the cross-checks in
tests/test_metric_crosscheck.py (NumPy/SciPy, float64; slow but plain).

* :func:`psnr_hvs_m`: Ponomarenko et al., "On between-coefficient contrast masking of DCT basis
  functions" (2007), as their psnrhvsm.m computes it: non-overlapping 8x8 blocks of the image
  on a 0..255 scale, orthonormal 2-D DCT, errors weighted by the CSF table below; in PSNR-HVS-M
  each AC error is first reduced by the block's masking threshold, max(mask(A), mask(B)) /
  MaskCof[k, l], where mask(z) = sqrt(sum_AC dct(z)^2 MaskCof * pop(z)) / 32 and pop(z) is the
  ratio of the summed (unbiased, times-count) variances of the four 4x4 quarters to that of the
  block.  MaskCof is the squared CSF normalised to its peak, (CSF / max CSF)^2, which is how
  the published mask table was made.
* :func:`nlpd`: Laparra et al., "Perceptual image quality assessment using a normalized Laplacian
  pyramid" (2016), with the pyramid of the nlpd-tensorflow code that IQA_pytorch follows: six
  levels; each level low-passes with the 5x5 filter (mirror padding 2, stride 2), upsamples by 2
  (bilinear, corners aligned), filters again and subtracts; the band is divided by sigma_k plus
  its local amplitude (|band| filtered by the level's 3x3 divisive-normalisation filter, mirror
  padding 1).  The distance is the mean over levels of the RMS difference of the normalised bands.
"""
import numpy as np
from scipy import ndimage
from scipy.fft import dctn

CSF = np.array([
    [1.608443, 2.339554, 2.573509, 1.608443, 1.072295, 0.643377, 0.504610, 0.421887],
    [2.144591, 2.144591, 1.838221, 1.354478, 0.989811, 0.443708, 0.428918, 0.467911],
    [1.838221, 1.979622, 1.608443, 1.072295, 0.643377, 0.451493, 0.372972, 0.459555],
    [1.838221, 1.513829, 1.169777, 0.887417, 0.504610, 0.295806, 0.321689, 0.415082],
    [1.429727, 1.169777, 0.695543, 0.459555, 0.378457, 0.236102, 0.249855, 0.334222],
    [1.072295, 0.735288, 0.467911, 0.402111, 0.317717, 0.247453, 0.227744, 0.279729],
    [0.525206, 0.402111, 0.329937, 0.295806, 0.249855, 0.212687, 0.214459, 0.254803],
    [0.357432, 0.279729, 0.270896, 0.262603, 0.229778, 0.257351, 0.249855, 0.259950]])
MASK = (CSF / CSF.max()) ** 2


def _blocks(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    return image[:h - h % 8, :w - w % 8].reshape(h // 8, 8, w // 8, 8).swapaxes(1, 2).reshape(-1, 8, 8)


def _spread(blocks: np.ndarray) -> np.ndarray:
    """Unbiased variance times the sample count, per block."""
    return np.var(blocks, axis=(1, 2), ddof=1) * blocks.shape[1] * blocks.shape[2]


def _mask(blocks: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    energy = np.sum(coefficients ** 2 * MASK, axis=(1, 2)) - coefficients[:, 0, 0] ** 2 * MASK[0, 0]
    whole = _spread(blocks)
    quarters = sum(_spread(blocks[:, r:r + 4, c:c + 4]) for r in (0, 4) for c in (0, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        pop = np.where(whole != 0, quarters / whole, 0.0)
    return np.sqrt(energy * pop) / 32


def psnr_hvs_m(reference: np.ndarray, distorted: np.ndarray) -> float:
    """PSNR-HVS-M (dB) of two grey images on a 0..255 scale (float arrays, sides multiples of 8)."""
    a, b = _blocks(reference.astype(np.float64)), _blocks(distorted.astype(np.float64))
    da, db = dctn(a, axes=(1, 2), norm="ortho"), dctn(b, axes=(1, 2), norm="ortho")
    threshold = np.maximum(_mask(a, da), _mask(b, db))[:, None, None] / MASK
    error = np.abs(da - db)
    masked = np.maximum(error - threshold, 0.0)
    masked[:, 0, 0] = error[:, 0, 0]
    mse = np.mean((masked * CSF) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


LOWPASS = np.outer([0.05, 0.25, 0.4, 0.25, 0.05], [0.05, 0.25, 0.4, 0.25, 0.05])
SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
NORMALISERS = [np.array(f) for f in (
    [[0, 0.1011, 0], [0.1493, 0, 0.1460], [0, 0.1015, 0]],
    [[0, 0.0757, 0], [0.1986, 0, 0.1846], [0, 0.0837, 0]],
    [[0, 0.0477, 0], [0.2138, 0, 0.2243], [0, 0.0467, 0]],
    [[0, 0, 0], [0.2503, 0, 0.2616], [0, 0, 0]],
    [[0, 0, 0], [0.2598, 0, 0.2552], [0, 0, 0]],
    [[0, 0, 0], [0.2215, 0, 0.0717], [0, 0, 0]])]


def _filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return ndimage.correlate(image, kernel, mode="mirror")


def _normalised_pyramid(image: np.ndarray) -> list:
    bands, current = [], image
    for sigma, normaliser in zip(SIGMAS, NORMALISERS):
        low = _filter(current, LOWPASS)[::2, ::2]
        up = ndimage.zoom(low, 2, order=1, mode="nearest", grid_mode=False)
        band = current - _filter(up, LOWPASS)
        bands.append(band / (sigma + _filter(np.abs(band), normaliser)))
        current = low
    return bands


def nlpd(reference: np.ndarray, distorted: np.ndarray) -> float:
    """NLPD of two grey images in [0, 1] (float arrays, sides multiples of 64)."""
    pairs = zip(_normalised_pyramid(reference.astype(np.float64)), _normalised_pyramid(distorted.astype(np.float64)))
    return float(np.mean([np.sqrt(np.mean((a - b) ** 2)) for a, b in pairs]))
