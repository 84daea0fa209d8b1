// The asset page's player: hls.js (vendored, a classic script that defines window.Hls) or native HLS, a quality
// menu (auto + each rung), a position slider with scrub previews from the sprite sheet's WebVTT, and captions.
import { clock, h } from './api.js';

export function parseVtt(text, baseUrl) {
  const cues = [];
  const stamp = (s) => s.trim().split(':').reduce((acc, part) => acc * 60 + parseFloat(part), 0);
  for (const block of text.replace(/\r/g, '').split('\n\n')) {
    const lines = block.split('\n').filter(Boolean);
    const i = lines.findIndex((l) => l.includes('-->'));
    if (i < 0 || !lines[i + 1]) continue;
    const [a, b] = lines[i].split('-->');
    const [file, frag] = lines[i + 1].trim().split('#xywh=');
    const [x, y, w, hh] = (frag || '0,0,0,0').split(',').map(Number);
    cues.push({ start: stamp(a), end: stamp(b.trim().split(/\s+/)[0]), url: new URL(file, baseUrl).href, x, y, w, h: hh });
  }
  return cues;
}

export class Player {
  constructor({ video, quality, scrub, preview, msg, speed = null, captions = null }) {
    Object.assign(this, { video, quality, scrub, preview, msg, speed, captions });
    if (speed) speed.addEventListener('change', () => { video.playbackRate = Number(speed.value) || 1; });
    if (captions) captions.addEventListener('change', () => this.showCaptions(captions.value));
    this.hls = null; this.src = null; this.cues = []; this.pendingSeek = null; this.stillBase = null;
    video.addEventListener('loadedmetadata', () => {
      this.scrub.max = String(video.duration || 0);
      if (this.pendingSeek !== null) { video.currentTime = this.pendingSeek; this.pendingSeek = null; }
    });
    video.addEventListener('timeupdate', () => {
      if (document.activeElement !== scrub) scrub.value = String(video.currentTime);
      scrub.setAttribute('aria-valuetext', clock(video.currentTime));
    });
    video.addEventListener('error', () => {
      const e = video.error;
      this.say(`The video cannot be played${e ? ` (${e.message || 'media error ' + e.code})` : ''}.`);
    });
    scrub.addEventListener('input', () => {
      this.seek(Number(scrub.value), false);
      this.showPreview(Number(scrub.value), null);
    });
    scrub.addEventListener('change', () => this.hidePreview());
    scrub.addEventListener('blur', () => this.hidePreview());
    scrub.addEventListener('pointermove', (ev) => {
      const r = scrub.getBoundingClientRect();
      const t = Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width)) * Number(scrub.max || 0);
      this.showPreview(t, ev.clientX - video.getBoundingClientRect().left);
    });
    scrub.addEventListener('pointerleave', () => this.hidePreview());
    quality.addEventListener('change', () => {
      if (this.hls) this.hls.currentLevel = Number(quality.value);  // switch now (flushes the buffer)
    });
  }

  say(text) { this.msg.textContent = text; }

  load(masterUrl) {
    // A fresh signature of the same playlist is the same video: keep playing (the old URL lasts for hours).
    const same = (u) => (u || '').replace(/\/v1\/play\/[^/]+\//, '/v1/play/-/');
    if (!masterUrl || same(this.src) === same(masterUrl)) return;
    this.src = masterUrl;
    const Hls = window.Hls;
    if (Hls && Hls.isSupported()) {
      const hls = new Hls();  // the URL is signed: no credentials to send
      this.hls = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => { this.fillQuality(data.levels); this.fillCaptions(); });
      hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => this.fillCaptions());
      hls.subtitleDisplay = false;  // nothing shows until chosen in the captions menu
      hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
        const level = hls.levels[data.level];
        document.body.dataset.level = level ? String(level.height) : '';
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.NETWORK_ERROR) { this.say('Network trouble; retrying…'); hls.startLoad(); }
        else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); }
        else this.say(`The video cannot be played (${data.details}).`);
      });
      hls.loadSource(masterUrl);
      hls.attachMedia(this.video);
    } else if (this.video.canPlayType('application/vnd.apple.mpegurl')) {
      this.video.src = masterUrl;  // native HLS (Safari): its own quality switching
      this.quality.disabled = true;
    } else {
      this.say('This browser cannot play HLS.');
    }
  }

  fillQuality(levels) {
    // Only picture rungs make a quality choice; audio-only (no heights) hides the menu instead of "?p".
    const opts = [h('option', { value: '-1', text: 'Auto' })];
    levels.forEach((l, i) => {
      if (!l.height) return;
      const kbps = l.bitrate ? ` · ${Math.round(l.bitrate / 1000)} kbps` : '';
      opts.push(h('option', { value: String(i), text: `${l.height}p${kbps}`, 'data-height': String(l.height) }));
    });
    this.quality.replaceChildren(...opts);
    this.quality.disabled = opts.length < 2;
    this.quality.hidden = opts.length < 2;
    const label = document.querySelector(`label[for="${this.quality.id}"]`);
    if (label) label.hidden = opts.length < 2;
  }

  seek(t, play = true) {
    if (this.video.readyState >= 1) this.video.currentTime = t;
    else this.pendingSeek = t;
    if (play) this.video.play().catch(() => { /* autoplay may be refused; the position is set */ });
  }

  async loadSprites(vttUrl) {
    if (!vttUrl || this.cues.length) return;
    try {
      const r = await fetch(vttUrl, { credentials: 'omit' });
      if (r.ok) this.cues = parseVtt(await r.text(), new URL(vttUrl, location.href).href);
    } catch { /* no previews */ }
  }

  // The sprite tile shows at once (the nearest earlier tile); the exact frame at `t` replaces it as soon as
  // GET /v1/assets/{id}/thumbnail.jpg answers (asked for when the pointer rests a moment).
  showPreview(t, x) {
    const cue = this.cues.find((c) => t >= c.start && t < c.end) || this.cues[this.cues.length - 1];
    if (!cue) return;
    const img = this.preview.querySelector('.img');
    img.style.width = `${cue.w}px`; img.style.height = `${cue.h}px`;
    img.style.backgroundImage = `url("${cue.url}")`;
    img.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    this.exactFrame(t, cue.w, cue.h);
    this.preview.querySelector('span').textContent = clock(t);
    const width = this.video.getBoundingClientRect().width;
    const px = x === null ? (t / Math.max(1, Number(this.scrub.max))) * width : x;
    this.preview.style.left = `${Math.max(0, Math.min(width - cue.w - 4, px - cue.w / 2))}px`;
    this.preview.hidden = false;
  }

  exactFrame(t, w, hh) {
    clearTimeout(this.exactTimer);
    let still = this.preview.querySelector('img.exact');
    if (!still) {
      still = h('img', { class: 'exact', alt: '' });
      this.preview.querySelector('.img').append(still);
    }
    still.hidden = true;
    if (!this.stillBase) return;
    this.exactTimer = setTimeout(() => {
      const src = `${this.stillBase}?time=${t.toFixed(3)}&width=${Math.round(w * (window.devicePixelRatio || 1))}`;
      still.onload = () => { if (still.dataset.src === src) still.hidden = false; };
      still.dataset.src = src;
      still.dataset.time = String(t);
      Object.assign(still.style, { width: `${w}px`, height: `${hh}px` });
      still.src = src;
    }, 120);
  }

  hidePreview() { this.preview.hidden = true; clearTimeout(this.exactTimer); }

  addCaptions(url) {
    if (!url || this.video.querySelector('track')) return;
    this.video.append(h('track', { kind: 'captions', src: url, srclang: 'en', label: 'Transcript', default: true }));
    this.fillCaptions();
    if (this.captions && this.captions.value === 'off') this.captions.value = 'transcript';
  }

  // The captions menu: the subtitle renditions of the HLS master (WebVTT, by language) and the transcript track.
  fillCaptions() {
    if (!this.captions) return;
    const current = this.captions.value;
    const opts = [h('option', { value: 'off', text: 'Off' })];
    (this.hls ? this.hls.subtitleTracks : []).forEach((t, i) => {
      opts.push(h('option', { value: `hls:${i}`, text: t.name || t.lang || `Subtitles ${i + 1}` }));
    });
    if (this.video.querySelector('track')) opts.push(h('option', { value: 'transcript', text: 'Transcript (automatic)' }));
    this.captions.replaceChildren(...opts);
    this.captions.value = opts.some((o) => o.value === current) ? current : 'off';
  }

  showCaptions(choice) {
    const track = this.video.querySelector('track');
    if (track) track.track.mode = choice === 'transcript' ? 'showing' : 'disabled';
    if (this.hls) {
      const i = choice.startsWith('hls:') ? Number(choice.slice(4)) : -1;
      this.hls.subtitleTrack = i;
      this.hls.subtitleDisplay = i >= 0;
    }
  }
}
