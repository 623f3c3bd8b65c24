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


# IW-SSIM: Wang and Li, "Information content weighting for perceptual image quality assessment"
# (2011), as their iwssim.m computes it with Simoncelli's matlabPyrTools: a 5-level Laplacian
# pyramid (binom5 filter, sqrt(2) [1 4 6 4 1] / 16, mirror edges); at each level the SSIM
# contrast-structure map of the bands (11x11 Gaussian window, sigma 1.5, 'valid'), and at the
# coarsest also the luminance map; levels 1-4 pooled with information-content weights from a
# Gaussian scale mixture model of 3x3 neighbourhoods plus the parent band; the pooled values
# combined with the MS-SSIM exponents.
BINOM5 = np.sqrt(2) * np.array([1, 4, 6, 4, 1]) / 16
WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def _corr1(x: np.ndarray, f: np.ndarray, axis: int) -> np.ndarray:
    return ndimage.correlate1d(x, f, axis=axis, mode="mirror")


def _up(low: np.ndarray, size: int, axis: int) -> np.ndarray:
    """upConv.m with 'reflect1' edges, along ``axis``: the transpose of :func:`_corr1` and
    subsampling by 2: each sample scattered through the filter from every second position,
    the contributions that fall outside folded back about the edge samples."""
    x = np.moveaxis(low, axis, 0)
    out = np.zeros((size + 4,) + x.shape[1:])
    for k, tap in enumerate(BINOM5):
        out[k:k + 2 * x.shape[0]:2] += tap * x
    result = out[2:size + 2].copy()
    result[1] += out[1]
    result[2] += out[0]
    result[size - 2] += out[size + 2]
    result[size - 3] += out[size + 3]
    return np.moveaxis(result, 0, axis)


def _laplacian_pyramid(image: np.ndarray, levels: int) -> list:
    bands, current = [], image
    for _ in range(levels - 1):
        low = _corr1(_corr1(current, BINOM5, 1)[:, ::2], BINOM5, 0)[::2, :]
        bands.append(current - _up(_up(low, current.shape[0], 0), current.shape[1], 1))
        current = low
    return bands + [current]


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    w = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma ** 2))
    return w / w.sum()


def _valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    r = w.shape[0] // 2
    return ndimage.correlate(x, w, mode="constant")[r:-r, r:-r]


def _enlarge2(band: np.ndarray) -> np.ndarray:
    """imenlarge2.m: MATLAB's bilinear imresize to (4M-3) x (4N-3) (pixel centres aligned,
    edges clamped), linear extrapolation by one sample on each side, every other sample."""
    def resize(x, size, axis):
        n = x.shape[axis]
        scale = size / n
        u = np.arange(1, size + 1) / scale + 0.5 * (1 - 1 / scale)
        left = np.floor(u).astype(int)
        t = u - left
        lo = np.clip(left, 1, n) - 1
        hi = np.clip(left + 1, 1, n) - 1
        a, b = np.take(x, lo, axis=axis), np.take(x, hi, axis=axis)
        shape = [1, 1]
        shape[axis] = size
        return a * (1 - t.reshape(shape)) + b * t.reshape(shape)

    m, n = band.shape
    t1 = resize(resize(band, 4 * m - 3, 0), 4 * n - 3, 1)
    t2 = np.zeros((4 * m - 1, 4 * n - 1))
    t2[1:-1, 1:-1] = t1
    t2[0] = 2 * t2[1] - t2[2]
    t2[-1] = 2 * t2[-2] - t2[-3]
    t2[:, 0] = 2 * t2[:, 1] - t2[:, 2]
    t2[:, -1] = 2 * t2[:, -2] - t2[:, -3]
    return t2[::2, ::2]


def _info_weights(y: np.ndarray, yn: np.ndarray, parent, sigma_nsq: float = 0.4) -> np.ndarray:
    tol = 1e-15
    box = np.ones((3, 3)) / 9

    def same(x):
        return ndimage.correlate(x, box, mode="constant")
    mean_x, mean_y = same(y), same(yn)
    cov_xy = same(y * yn) - mean_x * mean_y
    ss_x = np.maximum(same(y * y) - mean_x ** 2, 0)
    ss_y = np.maximum(same(yn * yn) - mean_y ** 2, 0)
    g = cov_xy / (ss_x + tol)
    vv = ss_y - g * cov_xy
    g[ss_x < tol] = 0
    vv[ss_x < tol] = ss_y[ss_x < tol]
    g[ss_y < tol] = 0
    vv[ss_y < tol] = 0
    h, w = y.shape
    columns = [y[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx].ravel() for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    if parent is not None:
        columns.append(_enlarge2(parent)[:h, :w][1:-1, 1:-1].ravel())
    Y = np.stack(columns, axis=1)
    n = Y.shape[1]
    c_u = Y.T @ Y / Y.shape[0]
    eigenvalues, q = np.linalg.eigh(c_u)
    positive = eigenvalues * (eigenvalues > 0)
    eigenvalues = positive * eigenvalues.sum() / (positive.sum() + (positive.sum() == 0))
    c_u = q @ np.diag(eigenvalues) @ q.T
    ss = (np.sum((Y @ np.linalg.inv(c_u)) * Y, axis=1) / n).reshape(h - 2, w - 2)
    g, vv = g[1:-1, 1:-1], vv[1:-1, 1:-1]
    info = sum(np.log2(1 + ((vv + (1 + g * g) * sigma_nsq) * ss * lam + sigma_nsq * vv) / sigma_nsq ** 2)
               for lam in eigenvalues)
    info[info < tol] = 0
    return info


def iw_ssim(reference: np.ndarray, distorted: np.ndarray, levels: int = 5) -> float:
    """IW-SSIM of two grey images on a 0..255 scale (float arrays, sides multiples of 2^(levels-1))."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = _gaussian_window()
    bound1 = 4  # iwssim.m's bound1, by which the information maps are cropped
    pyr_o = _laplacian_pyramid(reference.astype(np.float64), levels)
    pyr_d = _laplacian_pyramid(distorted.astype(np.float64), levels)
    pooled = []
    for s in range(levels):
        y, yn = pyr_o[s], pyr_d[s]
        mu1, mu2 = _valid(y, window), _valid(yn, window)
        s12 = _valid(y * yn, window) - mu1 * mu2
        s1 = np.maximum(_valid(y * y, window) - mu1 ** 2, 0)
        s2 = np.maximum(_valid(yn * yn, window) - mu2 ** 2, 0)
        cs = (2 * s12 + c2) / (s1 + s2 + c2)
        if s == levels - 1:
            cs = cs * (2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1)
            weights = np.ones_like(cs)
        else:
            parent = pyr_o[s + 1] if s < levels - 2 else None
            weights = _info_weights(y, yn, parent)[bound1:-bound1, bound1:-bound1]
        pooled.append(np.sum(cs * weights) / np.sum(weights))
    return float(np.prod(np.array(pooled) ** (WEIGHTS / WEIGHTS.sum())))
