"""Speech: espeak-ng sentences mixed into a clip at known times; VAD ranges and pocketsphinx WER measured."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from vidpipe.analysis import registry
from vidpipe.analysis.asr import ENGINES
from vidpipe.analysis.pipeline import run_pass
from vidpipe.analysis.speech import captions_vtt
from vidpipe.contract import Segment
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.settings import Limits

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None and os.environ.get("CI") != "true",
                                 reason="needs espeak-ng (CI installs it)")
RATE = 48_000
SENTENCES = [(1.0, "the quick brown fox jumps over the lazy dog"),
             (6.5, "please call me tomorrow morning at nine")]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words / reference length."""
    ref, hyp = reference.lower().split(), hypothesis.lower().split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def test_word_error_rate():
    assert word_error_rate("a b c d", "a x c") == 0.5
    assert word_error_rate("a b", "a b") == 0.0


def active_range(voice: np.ndarray, rate: int) -> tuple[float, float]:
    window = rate // 50
    n = voice.size // window
    level = np.sqrt((voice[: n * window].reshape(n, window) ** 2).mean(axis=1))
    loud = np.flatnonzero(level > level.max() * 0.03)
    return loud[0] * window / rate, (loud[-1] + 1) * window / rate


@pytest.fixture(scope="module")
def spoken_clip(tmp_path_factory) -> tuple[Path, list[tuple[float, float]]]:
    d = tmp_path_factory.mktemp("speech")
    mix = 0.003 * np.random.default_rng(3).standard_normal(11 * RATE)  # quiet room noise, about -50 dBFS
    truth = []
    for i, (at, text) in enumerate(SENTENCES):
        wav = d / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True)
        voice, rate = soundfile.read(wav, dtype="float32")
        voice = np.interp(np.arange(int(voice.size * RATE / rate)) * rate / RATE, np.arange(voice.size), voice)
        start = int(at * RATE)
        mix[start:start + voice.size] += 0.5 * voice
        a, b = active_range(voice, RATE)
        truth.append((float(at + a), float(at + b)))
    audio = d / "mix.wav"
    soundfile.write(audio, np.stack([mix, mix], axis=1).astype(np.float32), RATE)
    clip = d / "speech.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=11", "-i", str(audio), "-map", "0:v", "-map", "1:a",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k", "-shortest", str(clip)])
    return clip, truth


def overlap(ranges: list[tuple[float, float]], truth: list[tuple[float, float]]) -> float:
    covered = sum(max(0.0, min(b, y) - max(a, x)) for a, b in ranges for x, y in truth)
    return covered / sum(y - x for x, y in truth)


def test_vad_finds_the_sentences_and_pocketsphinx_transcribes_them(spoken_clip):
    clip, truth = spoken_clip
    result = run_pass(clip, probe_file(clip, Limits()), registry.build(["speech"]))
    assert result.understanding.analyzers["speech"] == "ok"
    speech = result.analysis.segments_of("speech")
    ranges = [(s.start, s.end) for s in speech]
    covered = overlap(ranges, truth)
    spurious = sum(e - s for s, e in ranges) - covered * sum(y - x for x, y in truth)
    hypothesis = " ".join(s.text or "" for s in speech)
    reference = " ".join(text for _, text in SENTENCES)
    wer = word_error_rate(reference, hypothesis)
    print(f"\nspeech: truth {[(round(a, 2), round(b, 2)) for a, b in truth]}, VAD {ranges}, "
          f"coverage {covered:.2f}, outside truth {spurious:.2f} s\n  reference:  {reference}\n"
          f"  hypothesis: {hypothesis}\n  WER (pocketsphinx en-us on espeak-ng) {wer:.2f}")
    assert covered >= 0.8 and spurious < 1.5
    assert wer < 0.9
    vtt = next(o for o in result.outputs if o.key == "analysis/captions.vtt")
    assert vtt.kind == "captions" and vtt.data.startswith(b"WEBVTT")


def test_captions_vtt_format():
    text = captions_vtt([Segment("speech", 1.5, 3.25, text="hello there"), Segment("speech", 4, 5, text=None)])
    assert text == "WEBVTT\n\n1\n00:00:01.500 --> 00:00:03.250\nhello there\n"


def test_faster_whisper_without_a_loadable_model_is_unavailable():
    assert {"pocketsphinx", "faster-whisper"} <= set(ENGINES)
    status = registry.build(["speech"], {"speech": {"engine": "faster-whisper", "model": "/nonexistent/whisper"}}
                            ).status["speech"]
    assert status.startswith("unavailable:") and ("faster_whisper" in status or "could not load" in status)
    no_model = registry.build(["speech"], {"speech": {"engine": "faster-whisper"}}).status["speech"]
    assert no_model.startswith("unavailable:") and "model" in no_model


def make_tiny_whisper(root: Path) -> Path:
    """A randomly initialised 2-layer Whisper (transformers) with a byte-level tokenizer carrying Whisper's
    special tokens, converted to CTranslate2 the way real models are: exercises faster-whisper's real loading,
    feature extraction, language detection, decoding and word alignment, offline."""
    import shutil as sh

    import torch
    from ctranslate2.converters import TransformersConverter
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab.update({f"tok{i}": i for i in range(len(vocab), 50257)})
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<|endoftext|>", "<|startoftranscript|>", *[f"<|{c}|>" for c in _LANGUAGE_CODES],
                                  "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
                                  "<|nospeech|>", "<|notimestamps|>", *[f"<|{i * 0.02:.2f}|>" for i in range(1501)]])
    hf = root / "hf"
    hf.mkdir(parents=True)
    config = WhisperConfig(vocab_size=tokenizer.get_vocab_size(), d_model=64, encoder_layers=2, decoder_layers=2,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128,
                           decoder_ffn_dim=128, num_mel_bins=80, decoder_start_token_id=50258, eos_token_id=50257,
                           pad_token_id=50257, bos_token_id=50257)
    torch.manual_seed(0)
    WhisperForConditionalGeneration(config).save_pretrained(hf)
    tokenizer.save(str(hf / "tokenizer.json"))
    out = root / "ct2"
    TransformersConverter(str(hf)).convert(str(out), force=True)
    sh.copy(hf / "tokenizer.json", out / "tokenizer.json")
    return out


def test_faster_whisper_loads_and_decodes_a_converted_model(spoken_clip, tmp_path):
    model = make_tiny_whisper(tmp_path / "whisper")
    options = {"engine": "faster-whisper", "model": str(model),
               "engine_options": {"options": {"max_new_tokens": 4, "beam_size": 1}}}
    clip, _ = spoken_clip
    result = run_pass(clip, probe_file(clip, Limits()), registry.build(["speech"], {"speech": options}))
    assert result.understanding.analyzers["speech"] == "ok", result.understanding.analyzers
    speech = result.analysis.segments_of("speech")
    assert speech and all(s.detail["engine"] == "faster-whisper" and s.detail["model"] == str(model) for s in speech)
    assert all(s.detail.get("language") for s in speech)  # detected per voice range (random weights: any)
    assert result.metrics["speech"]["engine"] == "faster-whisper"


def test_words_split_into_sentences_at_pauses_and_length():
    from vidpipe.analysis.asr import Transcript
    from vidpipe.analysis.speech import split_words, transcript_segments

    words = [("a", 0.0, 0.3), ("b", 0.35, 0.6), ("c", 1.5, 1.8), ("d", 1.85, 2.0)]
    assert [[w for w, _, _ in run] for run in split_words(words)] == [["a", "b"], ["c", "d"]]
    long = [(str(i), i * 0.5, i * 0.5 + 0.4) for i in range(40)]  # 20 s without a pause
    runs = split_words(long, max_seconds=8.0)
    assert len(runs) == 3 and all(r[-1][2] - r[0][1] <= 8.0 for r in runs)
    parts = transcript_segments([Transcript("a b c d", 0.0, 2.0, words)], offset=10.0, range_end=14.0)
    assert [(a, b, t) for a, b, t, _ in parts] == [(10.0, 10.6, "a b"), (11.5, 12.0, "c d")]
    no_words = transcript_segments([Transcript("hello", 0.0, 0.0)], offset=3.0, range_end=5.0)
    assert [(a, b, t) for a, b, t, _ in no_words] == [(3.0, 5.0, "hello")]


def test_sentences_over_music_get_their_own_times(tmp_path):
    """Music under the voice joins the sentences into one voice range; the word times split them again."""
    t = np.arange(14 * RATE) / RATE
    music = 0.05 * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 330 * t * (1 + 0.01 * np.sin(t))))
    mix = music.copy()
    starts = [1.0, 5.5, 10.0]
    lines = ["the quick brown fox jumps over the lazy dog", "please call me tomorrow morning at nine",
             "she sells sea shells by the sea shore"]
    for i, (at, text) in enumerate(zip(starts, lines, strict=True)):
        wav = tmp_path / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-s", "160", "-w", str(wav), text], check=True)
        voice, rate = soundfile.read(wav, dtype="float32")
        voice = np.interp(np.arange(int(voice.size * RATE / rate)) * rate / RATE, np.arange(voice.size), voice)
        a, _ = active_range(voice, RATE)
        mix[int(at * RATE):int(at * RATE) + voice.size] += 0.5 * voice
        starts[i] = at + a
    path = tmp_path / "music.wav"
    soundfile.write(path, np.stack([mix, mix], axis=1).astype(np.float32), RATE)
    speech = [s for s in run_pass(path, probe_file(path, Limits()), registry.build(["speech"])).analysis
              .segments_of("speech") if s.text]
    print(f"\nsentences at {[round(s, 2) for s in starts]}; segments {[(s.start, s.end, s.text) for s in speech]}")
    for at in starts:  # every sentence start has a segment starting within 1 s of it
        assert min(abs(s.start - at) for s in speech) <= 1.0, (at, [(s.start, s.end) for s in speech])
