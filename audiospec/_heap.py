"""Numba kernels: PGHI's heap integration (one spectrogram at a time), one-pass statistics, a
float32 -> float16 cast and the STFT's windowed frames.

Heap integration is inherently sequential (each bin's phase comes from an already-integrated
neighbour, largest magnitude first), so it cannot be vectorised in numpy; a compiled loop is
10-100x faster than the same loop in Python. The kernel is compiled once and cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["heap_integrate", "summarise", "windowed_frames"]


@njit(cache=True, nogil=True, inline="always")
def _push(heap_key, heap_item, length, item, value):
    # binary max-heap; each entry carries its key next to its flat index (no indirect loads)
    pos = length
    while pos > 0:
        parent = (pos - 1) >> 1
        if heap_key[parent] >= value:
            break
        heap_key[pos] = heap_key[parent]
        heap_item[pos] = heap_item[parent]
        pos = parent
    heap_key[pos] = value
    heap_item[pos] = item
    return length + 1


@njit(cache=True, nogil=True, inline="always")
def _pop(heap_key, heap_item, length):
    top = heap_item[0]
    length -= 1
    if length > 0:
        value = heap_key[length]
        item = heap_item[length]
        pos = 0
        while True:
            child = 2 * pos + 1
            if child >= length:
                break
            if child + 1 < length and heap_key[child + 1] > heap_key[child]:
                child += 1
            if heap_key[child] <= value:
                break
            heap_key[pos] = heap_key[child]
            heap_item[pos] = heap_item[child]
            pos = child
        heap_key[pos] = value
        heap_item[pos] = item
    return top, length


@njit(cache=True, nogil=True)
def heap_integrate(logmag, tgrad, fgrad, thresholds, fill_phase, phase):  # pragma: no cover - compiled
    """Integrate the phase gradients over one (n_bins, n_frames) spectrogram, in place.

    logmag, tgrad, fgrad, fill_phase, phase : float64 (n_bins, n_frames), C-contiguous.
    thresholds : float64 (n_passes,), decreasing log-magnitude thresholds.
    Time neighbours wrap around (circular frames); frequency neighbours do not.
    Bins never reached get ``fill_phase``. Returns the number of bins that were integrated.
    """
    n_bins, n_frames = logmag.shape
    size = n_bins * n_frames
    key = logmag.ravel()
    tg = tgrad.ravel()
    fg = fgrad.ravel()
    out = phase.ravel()
    done = np.zeros(size, np.bool_)
    heap_key = np.empty(size, np.float64)
    heap_item = np.empty(size, np.int64)
    order = np.argsort(-key)
    n_done = 0
    for p in range(thresholds.shape[0]):
        thr = thresholds[p]
        length = 0
        for i in range(size):  # earlier passes' phases are known: they seed this pass
            if done[i]:
                length = _push(heap_key, heap_item, length, i, key[i])
        ptr = 0
        while True:
            while length > 0:
                i, length = _pop(heap_key, heap_item, length)
                m = i // n_frames
                n = i - m * n_frames
                # time neighbours (circular)
                j = m * n_frames + (n + 1 if n + 1 < n_frames else 0)
                if not done[j] and key[j] >= thr:
                    out[j] = out[i] + 0.5 * (tg[i] + tg[j])
                    done[j] = True
                    n_done += 1
                    length = _push(heap_key, heap_item, length, j, key[j])
                j = m * n_frames + (n - 1 if n > 0 else n_frames - 1)
                if not done[j] and key[j] >= thr:
                    out[j] = out[i] - 0.5 * (tg[i] + tg[j])
                    done[j] = True
                    n_done += 1
                    length = _push(heap_key, heap_item, length, j, key[j])
                # frequency neighbours
                if m + 1 < n_bins:
                    j = i + n_frames
                    if not done[j] and key[j] >= thr:
                        out[j] = out[i] + 0.5 * (fg[i] + fg[j])
                        done[j] = True
                        n_done += 1
                        length = _push(heap_key, heap_item, length, j, key[j])
                if m > 0:
                    j = i - n_frames
                    if not done[j] and key[j] >= thr:
                        out[j] = out[i] - 0.5 * (fg[i] + fg[j])
                        done[j] = True
                        n_done += 1
                        length = _push(heap_key, heap_item, length, j, key[j])
            # the largest bin not yet reached starts a new island with phase 0
            while ptr < size and done[order[ptr]]:
                ptr += 1
            if ptr >= size or key[order[ptr]] < thr:
                break
            i = order[ptr]
            out[i] = 0.0
            done[i] = True
            n_done += 1
            length = _push(heap_key, heap_item, length, i, key[i])
    for i in range(size):
        if not done[i]:
            out[i] = fill_phase.ravel()[i]
    return n_done


@njit(cache=True, nogil=True)
def summarise(values, low, scale, hist, peaks):  # pragma: no cover - compiled
    """One pass over ``values`` (float, (n_items, m), C order): (count, mean, m2, min, max), the
    histogram added in place, and each row's largest value into ``peaks`` (float64, (n_items,)).

    Sums are taken about the first value (shifted data) in float64, in memory order, so m2 is
    accurate whatever the offset and does not depend on the rows' length; a value's bin is
    floor((v - low) * scale), clamped to the histogram. A NaN or infinite value stops the pass at
    once with count -1 (the histogram and peaks are then partial): the caller's finiteness check,
    without a pass of its own.
    """
    n_items, m = values.shape
    n_bins = hist.shape[0]
    shift = np.float64(values[0, 0])
    total = 0.0
    total_sq = 0.0
    lo = np.inf
    hi = -np.inf
    for r in range(n_items):
        peak = -np.inf
        for i in range(m):
            v = np.float64(values[r, i])
            if not abs(v) < np.inf:  # NaN or inf: before its (undefined) histogram bin
                return -1, 0.0, 0.0, lo, hi
            d = v - shift
            total += d
            total_sq += d * d
            if v < lo:
                lo = v
            if v > peak:
                peak = v
            k = int(np.floor((v - low) * scale))
            if k < 0:
                k = 0
            elif k >= n_bins:
                k = n_bins - 1
            hist[k] += 1
        peaks[r] = peak
        if peak > hi:
            hi = peak
    n = n_items * m
    mean = shift + total / n
    m2 = total_sq - total * total / n
    return n, mean, max(m2, 0.0), lo, hi


_HALF_BLOCK = 2048  # values per inner block of the float16 kernels (their scratch stays in L1)


@njit(cache=True, nogil=True, inline="always")
def _half_block(scratch, scratch_bits, denorm_bits, dst, k):  # pragma: no cover - compiled
    """float16 bits of ``scratch[:k]`` (float32, finite, magnitude < 65520) into ``dst[:k]``, given
    ``denorm[:k] = |scratch[:k]| + 0.5`` (float32; ``denorm_bits`` its bits).

    Round to nearest, ties to even, as numpy's cast. Branch-free (so the loop vectorises): normal
    results rebias the exponent and round away 13 mantissa bits in integer arithmetic; subnormal
    results come from the float32 sum ``|v| + 0.5``, whose rounding puts ``|v| / 2**-24``, rounded
    to an integer, in the low mantissa bits (F. Giesen's float_to_half_fast3_rtne). ``dst`` is a
    slice and every index starts at 0, so the compiled loop needs no index arithmetic or wraparound
    checks and vectorises.
    """
    for i in range(k):
        u = scratch_bits[i]
        a = u & np.uint32(0x7FFFFFFF)
        odd = (a >> np.uint32(13)) & np.uint32(1)
        normal = (a + np.uint32(0xC8000FFF) + odd) >> np.uint32(13)  # a - (112 << 23) + 0xFFF, mod 2**32
        sub = denorm_bits[i] - np.uint32(0x3F000000)
        r = normal if a >= np.uint32(0x38800000) else sub
        dst[i] = np.uint16(((u >> np.uint32(16)) & np.uint32(0x8000)) | r)


@njit(cache=True, nogil=True)
def float16_bits(values, out):  # pragma: no cover - compiled
    """Round float32 ``values`` (n,) to float16 bits ``out`` (uint16, n), in place.

    The same bits as numpy's ``astype(np.float16)`` (round to nearest, ties to even, subnormals
    included), several times faster on CPUs where numpy's cast is not vectorised. Valid for finite
    values below 65520 in magnitude (normalised spectrograms lie in [-1, 1]).
    """
    scratch = np.empty(_HALF_BLOCK, np.float32)
    denorm = np.empty(_HALF_BLOCK, np.float32)
    bits, denorm_bits = scratch.view(np.uint32), denorm.view(np.uint32)
    n = values.shape[0]
    for lo in range(0, n, _HALF_BLOCK):
        k = min(_HALF_BLOCK, n - lo)
        src = values[lo : lo + k]
        for i in range(k):
            scratch[i] = src[i]
            denorm[i] = abs(src[i]) + np.float32(0.5)
        _half_block(scratch, bits, denorm_bits, out[lo : lo + k], k)


@njit(cache=True, nogil=True, fastmath={"nnan", "ninf", "nsz"})
def normalize_half(values, scale, offset, out):  # pragma: no cover - compiled
    """``clip(values * scale + offset, -1, 1)`` in float32, rounded to float16 bits, in one pass.

    values : float32 (n,), all finite (checked by the caller: the kernel assumes it, so that its
    clip vectorises); scale, offset : float32 scalars; out : uint16 (n,).
    The arithmetic is numpy's (a float32 product, then a float32 sum: no fused multiply-add, which
    these fast-math flags do not allow), so the result equals
    ``normalize(values).astype(np.float16)`` bit for bit.
    """
    scratch = np.empty(_HALF_BLOCK, np.float32)
    denorm = np.empty(_HALF_BLOCK, np.float32)
    bits, denorm_bits = scratch.view(np.uint32), denorm.view(np.uint32)
    n = values.shape[0]
    for lo in range(0, n, _HALF_BLOCK):
        k = min(_HALF_BLOCK, n - lo)
        src = values[lo : lo + k]
        for i in range(k):
            v = src[i] * scale
            v = v + offset
            v = min(max(v, np.float32(-1.0)), np.float32(1.0))
            scratch[i] = v
            denorm[i] = abs(v) + np.float32(0.5)
        _half_block(scratch, bits, denorm_bits, out[lo : lo + k], k)


@njit(cache=True, nogil=True)
def windowed_frames(y, window, hop, out):  # pragma: no cover - compiled
    """Circular, centred frames of ``y`` times ``window``, written into ``out``.

    y : float (m, n), C-contiguous, ``n >= n_fft // 2``; window : (n_fft,), the same dtype;
    out : (m, n_frames, n_fft), the same dtype. ``out[c, f, t] = y[c, (f * hop + t - n_fft // 2) mod n]
    * window[t]``: one IEEE product per value, the bits of numpy's ``frames * window`` on the padded
    signal's strided view, without the padded copy and the product's temporary.
    """
    m, n = y.shape
    n_frames, n_fft = out.shape[1], out.shape[2]
    half = n_fft // 2
    for c in range(m):
        for f in range(n_frames):
            start = f * hop - half
            if start >= 0 and start + n_fft <= n:
                for t in range(n_fft):
                    out[c, f, t] = y[c, start + t] * window[t]
            else:  # a frame that wraps around the clip's ends
                for t in range(n_fft):
                    i = start + t
                    if i < 0:
                        i += n
                    elif i >= n:
                        i -= n
                    out[c, f, t] = y[c, i] * window[t]
