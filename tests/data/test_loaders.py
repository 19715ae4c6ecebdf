import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import write_image, write_tone

from polymodal.data.audio import AudioLoader, fix_length, log_mel, read_audio
from polymodal.data.image import ImageLoader, fit_image, to_rgb
from polymodal.data.text import TextLoader, normalize_text
from polymodal.data.video import VideoLoader


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "CMYK", "I;16", "1"])
def test_every_mode_becomes_normalised_rgb(tmp_path, mode):
    suffix = "tiff" if mode == "CMYK" else "png"
    path = write_image(tmp_path / f"x.{suffix}", (200, 100, 50), size=(40, 30), mode=mode)
    x = ImageLoader(size=16)(path)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and torch.isfinite(x).all()


def test_normalisation_values():
    loader = ImageLoader(size=4, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    x = loader.to_tensor(Image.new("RGB", (4, 4), (255, 0, 255)))
    assert torch.allclose(x[0], torch.ones(4, 4)) and torch.allclose(x[1], -torch.ones(4, 4))


def test_pixels_then_batch_normalisation_equals_the_loader(tmp_path):
    """The uint8 pixels plus the torch normalisation (what exported image graphs start from) give the
    loader's own tensor, to float32 rounding, for every value 0..255 and non-trivial statistics."""
    loader = ImageLoader(size=16, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.png"
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)
    pixels = loader.pixels(path)
    assert pixels.dtype == np.uint8 and pixels.shape == (16, 16, 3)
    torch.testing.assert_close(loader.normalise_batch(torch.from_numpy(pixels.copy())[None])[0], loader(path),
                               rtol=0, atol=1e-6)
    every = torch.arange(256, dtype=torch.uint8).view(1, 16, 16, 1).expand(1, 16, 16, 3)
    torch.testing.assert_close(loader.normalise_batch(every)[0], loader.normalise(every[0].numpy()),
                               rtol=0, atol=1e-6)


def test_transparent_pixels_go_on_white():
    im = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert to_rgb(im).getpixel((0, 0)) == (255, 255, 255)


def test_fit_modes_keep_aspect_or_not():
    im = Image.new("RGB", (40, 20), (0, 0, 0))
    assert fit_image(im, 10, "crop").getpixel((0, 0)) == (0, 0, 0)
    assert fit_image(im, 10, "pad").getpixel((0, 0)) == (255, 255, 255)  # letterbox band
    assert fit_image(im, 10, "stretch").size == (10, 10)
    with pytest.raises(ValueError, match="unknown fit"):
        fit_image(im, 10, "zoom")


def test_audio_mono_resampled_fixed_length(tmp_path):
    path = write_tone(tmp_path / "s.wav", freq=1000, seconds=0.5, sr=22050, channels=2)
    wave = read_audio(path, 16000)
    assert wave.ndim == 1 and abs(len(wave) - 8000) <= 2
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * 16000 / len(wave) - 1000) < 10  # pitch survives resampling
    assert len(fix_length(wave, 16000)) == 16000 and len(fix_length(wave, 100)) == 100


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_log_mel_from_each_format(tmp_path, fmt):
    path = write_tone(tmp_path / f"s.{fmt}", freq=440, seconds=0.3)
    loader = AudioLoader(seconds=1.0, n_mels=32)
    spec = loader(path)
    assert spec.shape == (32, loader.frames) == loader.empty().shape
    assert spec[:, :10].mean() > spec[:, -10:].mean()  # tone first, then padded silence


def test_log_mel_peaks_at_the_tone():
    t = np.arange(16000) / 16000
    low = log_mel(np.sin(2 * np.pi * 200 * t).astype(np.float32), n_mels=40).mean(1).argmax()
    high = log_mel(np.sin(2 * np.pi * 3000 * t).astype(np.float32), n_mels=40).mean(1).argmax()
    assert high > low


def test_text_normalisation():
    assert normalize_text("  ﬁne\u00a0 day\n\tok ") == "fine day ok"
    assert TextLoader(lowercase=True)("A  Cat") == "a cat"


def test_video_from_gif_pads_to_frame_count(tmp_path):
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "c.gif", save_all=True, append_images=frames[1:], duration=50)
    x = VideoLoader(frames=5, size=8)(tmp_path / "c.gif")
    assert x.shape == (5, 3, 8, 8)
    assert x[1, 0].mean() > x[0, 0].mean() and torch.equal(x[3], x[4])


def test_loader_ids_change_with_preprocessing():
    assert ImageLoader(size=64).id != ImageLoader(size=32).id
    assert AudioLoader(n_mels=64).id != AudioLoader(n_mels=32).id
