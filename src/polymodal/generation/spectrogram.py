"""Log-mel spectrograms in decibels and back to sound with Griffin-Lim (Griffin & Lim 1984).

A generated spectrogram has magnitudes but no phase; Griffin-Lim finds a waveform whose
short-time Fourier magnitudes match them by alternating projections. The mel bands are
first spread back over the linear frequency bins by non-negative least squares, as librosa's
`mel_to_stft` does, but solved here with multiplicative updates (Lee & Seung 2001) started from
the clipped pseudo-inverse: librosa's L-BFGS-B solver took three quarters of each clip's time
(~290 of ~390 ms), and 30 updates land closer to the target spectrogram (mean error on loud mel bins
of real `shapes` clips after Griffin-Lim: 2.5 dB against 3.4 dB, in a quarter of the time). Its
random phase start is seeded, so the same spectrogram always gives the same waveform.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

FLOOR = 1e-10  # power added before the logarithm: silence is -100 dB, not -inf
GRIFFIN_LIM_ITERATIONS = 32
NNLS_ITERATIONS = 30


@lru_cache(maxsize=1)
def _threads():
    """One controller for the process: building one scans the loaded libraries (~5 ms, as long as a
    clip's spectrogram)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_thread():
    """One BLAS/FFT thread: these arrays are small, and on a busy machine worker threads spinning on
    each other made one clip take seconds instead of a tenth of one."""
    return _threads().limit(limits=1)


@lru_cache(maxsize=8)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)


@lru_cache(maxsize=8)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The filter bank in float64, its pseudo-inverse and its Gram matrix, for the inverse."""
    basis = _mel_filters(sample_rate, n_fft, n_mels).astype(np.float64)
    return basis, np.linalg.pinv(basis), basis.T @ basis


def mel_to_power(power: np.ndarray, sample_rate: int, n_fft: int) -> np.ndarray:
    """Non-negative linear-frequency power `[1 + n_fft // 2, frames]` whose mel bands are close to `power`."""
    basis, pinv, gram = _mel_basis(sample_rate, n_fft, power.shape[0])
    x = np.maximum(pinv @ power, 1e-12 * max(float(power.max()), FLOOR))  # strictly positive start
    target = basis.T @ power
    for _ in range(NNLS_ITERATIONS):  # each step keeps x >= 0 and does not increase ||basis x - power||^2
        x *= target / np.maximum(gram @ x, 1e-30)
    return x


def mel_power(wave: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    """librosa's `melspectrogram(power=2)` (centred frames, Hann window): its STFT times a filter bank built
    once, not per call. librosa's own function took 4.6 ms per 1 s clip, this 0.5 ms, for the same values."""
    import librosa

    spectrum = np.abs(librosa.stft(np.asarray(wave, dtype=np.float32), n_fft=n_fft, hop_length=hop)) ** 2
    return _mel_filters(sample_rate, n_fft, n_mels) @ spectrum


def db_mel(wave: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    """Power mel spectrogram in decibels, [n_mels, frames] float32 (centred frames)."""
    with one_thread():
        mel = mel_power(wave, sample_rate, n_fft, hop, n_mels)
    return (10.0 * np.log10(mel + FLOOR)).astype(np.float32)


def griffin_lim(db: np.ndarray, sample_rate: int, n_fft: int, hop: int, samples: int,
                iterations: int = GRIFFIN_LIM_ITERATIONS) -> np.ndarray:
    """A waveform of `samples` float32 samples in [-1, 1] whose log-mel is close to `db`."""
    import librosa

    frames = samples // hop + 1  # centred frames of the full clip; a cropped last frame comes back as a copy
    db = np.asarray(db, dtype=np.float64)
    db = np.concatenate([db, np.repeat(db[:, -1:], max(0, frames - db.shape[1]), axis=1)], axis=1)[:, :frames]
    power = np.power(10.0, db / 10.0) - FLOOR
    power = np.maximum(power, 0.0)
    with one_thread():
        magnitude = np.sqrt(mel_to_power(power, sample_rate, n_fft))
        wave = librosa.griffinlim(magnitude, n_iter=iterations, hop_length=hop, n_fft=n_fft, length=samples,
                                  random_state=0)
        # The least-squares mel inverse does not keep the energy: match the requested mel energy.
        got = mel_power(wave, sample_rate, n_fft, hop, power.shape[0])
    wave *= np.sqrt(power.sum() / max(float(got.sum()), FLOOR))
    # Griffin-Lim's phases are not those of a clean tone, so peaks run higher at the same energy:
    # scale down rather than clip, which would add harmonics (and change the timbre).
    return (wave / max(1.0, float(np.abs(wave).max()))).astype(np.float32)
