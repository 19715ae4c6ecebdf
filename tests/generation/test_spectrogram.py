"""Griffin-Lim with the multiplicative-update mel inverse: a spectrogram comes back as a sound with that spectrogram."""

import numpy as np

from polymodal.generation.spectrogram import _mel_basis, db_mel, griffin_lim, mel_power, mel_to_power

SR, N_FFT, HOP, MELS = 16000, 1024, 250, 64


def _tone() -> np.ndarray:
    t = np.arange(SR) / SR
    return (0.5 * np.sin(2 * np.pi * 440 * t) * ((t > 0.3) & (t < 0.7))).astype(np.float32)


def test_mel_inverse_is_non_negative_and_fits_better_than_the_clipped_pseudo_inverse():
    power = 10 ** (db_mel(_tone(), SR, N_FFT, HOP, MELS).astype(np.float64) / 10)
    basis, pinv, _ = _mel_basis(SR, N_FFT, MELS)
    x = mel_to_power(power, SR, N_FFT)
    assert x.shape == (1 + N_FFT // 2, power.shape[1]) and (x >= 0).all()
    clipped = np.maximum(pinv @ power, 0)
    assert np.linalg.norm(basis @ x - power) < np.linalg.norm(basis @ clipped - power)


def _chirp() -> np.ndarray:
    t = np.arange(SR) / SR
    return (0.3 * np.sin(2 * np.pi * (200 + 600 * t) * t) * np.hanning(SR)).astype(np.float32)


def test_griffin_lim_gives_back_the_spectrogram_it_was_asked_for():
    db = db_mel(_chirp(), SR, N_FFT, HOP, MELS)[:, :64]
    wave = griffin_lim(db, SR, N_FFT, HOP, HOP * 64)
    assert wave.shape == (HOP * 64,) and np.abs(wave).max() <= 1.0
    back = db_mel(wave, SR, N_FFT, HOP, MELS)[:, :64]
    loud = db > db.max() - 40
    # Griffin-Lim only approximates a phase, so the match is in decibels, not exact: 2.1 dB measured here
    # (librosa's L-BFGS-B inverse: 2.2 dB); the tone's spectrogram against the chirp's differs by tens of dB.
    assert np.abs(back - db)[loud].mean() < 4.0
    other = db_mel(_tone(), SR, N_FFT, HOP, MELS)[:, :64]
    assert np.abs(other - db)[loud].mean() > 10.0
    assert np.array_equal(wave, griffin_lim(db, SR, N_FFT, HOP, HOP * 64))  # seeded: same input, same sound


def test_mel_power_is_librosas_melspectrogram():
    import librosa

    wave = _chirp()
    ours = mel_power(wave, SR, N_FFT, HOP, MELS)
    theirs = librosa.feature.melspectrogram(y=wave, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=MELS, power=2.0)
    # the same float32 products summed by a matrix product instead of einsum: equal up to summation order
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * float(theirs.max()))
