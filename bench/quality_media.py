"""Media for bench_quality.py, built from real photographs (scikit-image's data set), once, into bench/out/quality/.

- cuts/: 6 clips (+ 4 held-out ones, other seeds, not used to pick thresholds) of Ken Burns shots (slow zoom
  and drift over one photo) joined by hard cuts, dissolves and fades through black, with traps inside
  shots: a camera flash (3 over-exposed frames) and a whip pan.
  Truth in truth.json (hard cut frames, gradual windows, trap windows).
- dups/: 6 base clips (own photos, own music), 10 transformed copies of each (re-encode, scale, crop,
  letterbox, logo, trim 5 s, mirror, speed +-10 %, volume), 3 clips with another base's music under other
  pictures and 3 with another base's 4 s intro, then their own pictures (hard negatives).
- speech/: 4 narrated clips (espeak-ng voices en-us, en-gb, en-gb-scotland, en-us+f3), 2 of them over music;
  10 sentences with known start times (speech.json).
- loud/: 5.1 mixes (a different sound per channel) for the loudness check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidpipe.ffmpeg.process import ffmpeg_exe  # noqa: E402

W, H, FPS, RATE = 320, 180, 25, 48_000
OUT = Path(__file__).resolve().parent / "out" / "quality"
COLOUR = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "stereo_motorcycle"]
GRAY = ["camera", "coins", "moon", "page", "brick", "grass", "gravel", "clock", "cell", "text"]
TRANSFORMS = {
    "reencode": (["-vf", "scale=480:270", "-b:v", "150k"], ["-b:a", "64k"]),
    "scale": (["-vf", "scale=160:90"], []),
    "crop": (["-vf", "crop=iw*0.9:ih*0.9,scale=320:180"], []),
    "letterbox": (["-vf", "scale=320:136,pad=320:180:0:22"], []),
    "logo": (["-vf", "drawbox=x=iw-72:y=12:w=60:h=34:color=white@0.9:t=fill,"
                     "drawbox=x=iw-64:y=20:w=44:h=18:color=red@0.9:t=fill"], []),
    "trim": (["-ss", "5"], []),
    "mirror": (["-vf", "hflip"], []),
    "speed+10": (["-vf", "setpts=PTS/1.1"], ["-af", "atempo=1.1"]),
    "speed-10": (["-vf", "setpts=PTS/0.9"], ["-af", "atempo=0.9"]),
    "volume": ([], ["-af", "volume=0.5"]),
}


def photos() -> list[np.ndarray]:
    """RGB uint8 photographs: the colour ones, the gray ones (as RGB), and quadrants of the large ones."""
    import skimage.data as data

    out = []
    for name in COLOUR + GRAY:
        img = getattr(data, name)()
        img = img[0] if isinstance(img, tuple) else img
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
        out.append(np.ascontiguousarray(img.astype(np.uint8)))
    for name in ("retina", "hubble_deep_field"):
        img = getattr(data, name)()[..., :3]
        h, w = img.shape[0] // 2, img.shape[1] // 2
        out += [np.ascontiguousarray(img[y:y + h, x:x + w]) for y in (0, h) for x in (0, w)]
    return out


def ken_burns(photo: np.ndarray, frames: int, rng: np.random.Generator, whip_at: int | None = None) -> list:
    """Frames of a slow zoom (1.0 -> 1.15) with drift across `photo`; a whip pan at `whip_at` (0.4 s)."""
    ph, pw = photo.shape[:2]
    img = Image.fromarray(photo)
    aspect = W / H
    base_w = min(pw, ph * aspect) * 0.85
    z0, z1 = (1.0, 1.15) if rng.random() < 0.5 else (1.15, 1.0)
    cx0, cy0 = pw / 2 + rng.uniform(-0.05, 0.05) * pw, ph / 2 + rng.uniform(-0.05, 0.05) * ph
    dx, dy = rng.uniform(-0.04, 0.04) * pw, rng.uniform(-0.03, 0.03) * ph
    out = []
    for k in range(frames):
        f = k / max(1, frames - 1)
        z = z0 + (z1 - z0) * f
        cx, cy = cx0 + dx * f, cy0 + dy * f
        if whip_at is not None and k >= whip_at:
            g = min(1.0, (k - whip_at) / (0.4 * FPS))
            cx += 0.1 * pw * (3 * g * g - 2 * g * g * g) * (1 if rng.random() < 2 else -1)
        cw, ch = base_w / z, base_w / z / aspect
        x0 = np.clip(cx - cw / 2, 0, pw - cw)
        y0 = np.clip(cy - ch / 2, 0, ph - ch)
        out.append(np.asarray(img.resize((W, H), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))))
    return out


def flash(frames: list, at: int) -> None:
    for k, amount in zip(range(at, at + 3), (0.85, 0.6, 0.3), strict=False):
        frames[k] = (frames[k] * (1 - amount) + 255 * amount).astype(np.uint8)


def melody(seed: int, seconds: float, rate: int = RATE) -> np.ndarray:
    """A synthetic tune: random notes (with harmonics and a decay) over a bass line."""
    r = np.random.default_rng(seed)
    beat = rate // 4
    notes = []
    for k in range(int(seconds * 4) + 1):
        f = 220 * 2 ** (r.integers(0, 24) / 12)
        t = np.arange(beat) / rate
        tone = (np.sin(2 * np.pi * f * t) + 0.4 * np.sin(4 * np.pi * f * t)) * np.exp(-t * 6)
        bass = 0.5 * np.sin(2 * np.pi * (55 * 2 ** ((k // 8 % 4) * 2 / 12)) * t)
        notes.append(tone + bass)
    return (0.2 * np.concatenate(notes)[: int(seconds * rate)]).astype(np.float32)


def write_wav(path: Path, mono: np.ndarray, channels: int = 2) -> Path:
    pcm = np.clip(np.repeat(mono[:, None], channels, axis=1), -1, 1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((pcm * 32767).astype("<i2").tobytes())
    return path


def encode(frames: list, path: Path, audio: Path | None = None) -> Path:
    if path.exists() and path.stat().st_size > 0:  # an interrupted build resumes
        return path
    args = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
            "-r", str(FPS), "-i", "-"]
    args += ["-i", str(audio), "-c:a", "aac", "-b:a", "128k", "-shortest"] if audio else []
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-g", "50", str(path)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE)
    for f in frames:
        proc.stdin.write(np.ascontiguousarray(f).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed for {path}")
    return path


def shots_clip(pics: list[np.ndarray], rng: np.random.Generator, transitions: list[str], shot_seconds=(2.5, 4.0),
               traps: bool = False) -> tuple[list, dict]:
    """Shots over `pics` joined by `transitions` (hard | dissolve | fade); truth in frames."""
    frames: list = []
    truth = {"hard": [], "gradual": [], "traps": []}
    for i, pic in enumerate(pics):
        n = int(rng.uniform(*shot_seconds) * FPS)
        whip = int(n * 0.5) if traps and i % 3 == 1 else None
        shot = ken_burns(pic, n, rng, whip)
        if traps and i % 3 == 2:
            at = int(n * 0.4)
            flash(shot, at)
            truth["traps"].append(["flash", len(frames) + at, len(frames) + at + 3])
        if whip is not None:
            truth["traps"].append(["whip", len(frames) + whip, len(frames) + whip + int(0.4 * FPS)])
        if i == 0:
            frames += shot
            continue
        kind = transitions[(i - 1) % len(transitions)]
        if kind == "hard":
            truth["hard"].append(len(frames))
            frames += shot
        elif kind == "dissolve":
            d = int(rng.uniform(0.5, 1.5) * FPS)
            start = len(frames) - d
            for k in range(d):
                a = (k + 1) / (d + 1)
                frames[start + k] = (frames[start + k] * (1 - a) + shot[k] * a).astype(np.uint8)
            truth["gradual"].append([start, len(frames)])
            frames += shot[d:]
        else:  # fade through black: out over the last d frames, in over the first d
            d = int(rng.uniform(0.3, 0.6) * FPS)
            start = len(frames) - d
            for k in range(d):
                frames[start + k] = (frames[start + k] * (1 - (k + 1) / d)).astype(np.uint8)
                shot[k] = (shot[k] * (k / d)).astype(np.uint8)
            truth["gradual"].append([start, len(frames) + d])
            frames += shot
    return frames, truth


def build_cuts(pool: list[np.ndarray], seed: int = 100, count: int = 6, prefix: str = "cuts") -> dict:
    (OUT / "cuts").mkdir(parents=True, exist_ok=True)
    truth = {}
    for c in range(count):
        rng = np.random.default_rng(seed + c)
        pics = [pool[k] for k in rng.permutation(len(pool))[:11]]
        frames, t = shots_clip(pics, rng, ["hard", "dissolve", "hard", "fade"], traps=True)
        path = encode(frames, OUT / "cuts" / f"{prefix}{c}.mp4")
        truth[path.name] = t
    return truth


def build_dups(pool: list[np.ndarray]) -> dict:
    d = OUT / "dups"
    d.mkdir(parents=True, exist_ok=True)
    families: dict[str, str] = {}
    per = len(pool) // 12  # 6 base clips, 3 music-sharing and 3 intro-sharing clips: disjoint photos
    intros = {}
    for b in range(6):
        rng = np.random.default_rng(200 + b)
        pics = pool[b * per:(b + 1) * per]
        frames, _ = shots_clip(pics * 4, rng, ["hard"], shot_seconds=(3.0, 4.0))
        frames = frames[: 24 * FPS]
        intros[b] = frames[: 4 * FPS]
        audio = write_wav(d / f"music{b}.wav", melody(b, len(frames) / FPS + 1))
        src = encode(frames, d / f"base{b}.mp4", audio)
        families[src.name] = f"base{b}"
        for name, (vf, af) in TRANSFORMS.items():
            out = d / f"base{b}~{name}.mp4"
            families[out.name] = f"base{b}"
            if out.exists() and out.stat().st_size > 0:
                continue
            pre, vf = (vf[:2], vf[2:]) if vf[:1] == ["-ss"] else ([], vf)
            subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", *pre, "-i", str(src), *vf, *af, "-c:v",
                            "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "aac", str(out)], check=True)
    for k in range(3):  # another video under base k's music
        rng = np.random.default_rng(300 + k)
        pics = pool[(6 + k) * per:(7 + k) * per]
        frames, _ = shots_clip(pics * 4, rng, ["hard"], shot_seconds=(3.0, 4.0))
        path = encode(frames[: 24 * FPS], d / f"music_of_base{k}.mp4", d / f"music{k}.wav")
        families[path.name] = path.stem
    for k in range(3, 6):  # base k's first 4 s, then other pictures and other music
        rng = np.random.default_rng(400 + k)
        pics = pool[(k + 6) * per:(k + 7) * per]
        frames, _ = shots_clip(pics * 4, rng, ["hard"], shot_seconds=(3.0, 4.0))
        frames = intros[k] + frames[: 20 * FPS]
        audio = write_wav(d / f"music_intro{k}.wav", melody(50 + k, len(frames) / FPS + 1))
        path = encode(frames, d / f"intro_of_base{k}.mp4", audio)
        families[path.name] = path.stem
    return families


SENTENCES = [
    "the weather will be sunny with a light breeze this afternoon",
    "please remember to lock the back door before you leave",
    "the museum opens at ten and closes at six in the evening",
    "our train was delayed by forty minutes near the station",
    "she planted tomatoes and beans in the garden last spring",
    "the committee approved the new budget for the library",
    "turn left at the bridge and follow the river to the mill",
    "children were playing football in the park after school",
    "the recipe needs two eggs a cup of flour and some butter",
    "a strong wind knocked down several trees during the night",
]
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-us+f3"]


def build_speech() -> dict:
    d = OUT / "speech"
    d.mkdir(parents=True, exist_ok=True)
    truth: dict[str, list] = {}
    groups = [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9]]
    for c, group in enumerate(groups):
        seconds = 5.0 * len(group) + 3.0
        mix = np.zeros(int(seconds * RATE), np.float32)
        if c % 2:  # over music, 14 dB under the voice
            mix += 0.2 * melody(70 + c, seconds)
        lines = []
        at = 1.0 + 0.5 * c
        for k in group:
            wav = d / f"s{k}.wav"
            subprocess.run(["espeak-ng", "-v", VOICES[c], "-s", "155", "-w", str(wav), SENTENCES[k]], check=True)
            with wave.open(str(wav)) as w:
                rate = w.getframerate()
                voice = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32767
            voice = np.interp(np.arange(int(voice.size * RATE / rate)) * rate / RATE, np.arange(voice.size), voice)
            loud = np.flatnonzero(np.abs(voice) > 0.02)
            start = int(at * RATE)
            mix[start:start + voice.size] += 0.9 * voice[: max(0, mix.size - start)]
            lines.append([k, round(at + loud[0] / RATE, 2), round(at + loud[-1] / RATE, 2)])
            at += voice.size / RATE + 1.2
        audio = write_wav(d / f"narration{c}.wav", mix[: int((at + 1.0) * RATE)])
        frames = ken_burns(photos()[c], int((at + 1.0) * FPS), np.random.default_rng(c))
        path = encode(frames, d / f"narration{c}.mp4", audio)
        truth[path.name] = lines
    return truth


def build_loud() -> list[str]:
    d = OUT / "loud"
    d.mkdir(parents=True, exist_ok=True)
    names = []
    for k in range(3):
        # One sample rate for every input: `join` fed 44.1 kHz sines (sine's default) beside 48 kHz noise can
        # spin forever (seen here); the timeout below turns any such hang into an error.
        sources = [f"sine=f={220 * (k + 1)}:d=10:r=48000", f"sine=f={330 * (k + 1)}:d=10:r=48000,volume=0.6",
                   "anoisesrc=d=10:a=0.15:seed=3:r=48000", "sine=f=50:d=10:r=48000",
                   f"anoisesrc=d=10:a={0.1 * (k + 1)}:seed=4:r=48000",
                   f"sine=f={880 + 100 * k}:d=10:r=48000,volume=0.5"]
        args = [a for s in sources for a in ("-f", "lavfi", "-i", s)]
        path = d / f"surround{k}.mp4"
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", *args, "-filter_complex",
                        "[0][1][2][3][4][5]join=inputs=6:channel_layout=5.1[a]", "-map", "[a]", "-c:a", "aac",
                        "-b:a", "384k", str(path)], check=True, timeout=120)
        names.append(path.name)
    return names


def build() -> dict:
    """Everything, once (bench/out/quality/truth.json marks a complete set)."""
    done = OUT / "truth.json"
    if done.exists():
        truth = json.loads(done.read_text())
        if "cuts_holdout" not in truth:  # added later: clips the cut thresholds were not tuned on
            truth["cuts_holdout"] = build_cuts(photos(), seed=900, count=4, prefix="holdout")
            done.write_text(json.dumps(truth, indent=1))
        return truth
    pool = photos()
    truth = {"cuts": build_cuts(pool), "cuts_holdout": build_cuts(pool, seed=900, count=4, prefix="holdout"),
             "dups": build_dups(pool), "speech": build_speech(), "loud": build_loud(),
             "sentences": SENTENCES}
    done.write_text(json.dumps(truth, indent=1))
    return truth


if __name__ == "__main__":
    t = build()
    print({k: len(v) for k, v in t.items()})
