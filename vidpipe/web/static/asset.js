// The asset page: player, live stage timeline, metadata, renditions and artifacts, scenes, event log, edits.
import { api, bytes, clock, h, message, say } from './api.js';
import { watchAsset, TERMINAL } from './live.js';
import { Player } from './player.js';

const data = JSON.parse(document.getElementById('asset-data').textContent);
let asset = data.asset;
const $ = (id) => document.getElementById(id);
const player = new Player({ video: $('video'), quality: $('quality'), scrub: $('scrub'), preview: $('scrub-preview'),
  msg: $('player-msg'), speed: $('speed'), captions: $('captions') });

// Share: absolute addresses (the page may be served without a configured public URL), copied on request.
function absolute(url) { return new URL(url, location.href).href; }
if ($('share-url')) {
  $('share-url').value = absolute($('share-url').value);
  $('share-embed').value = $('share-embed').value.replace(/src="([^"]+)"/, (_m, u) => `src="${absolute(u)}"`);
  for (const b of document.querySelectorAll('button[data-copy]')) {
    b.addEventListener('click', async () => {
      const field = $(b.dataset.copy);
      try { await navigator.clipboard.writeText(field.value); say($('share-msg'), 'Copied.'); } catch {
        field.select(); say($('share-msg'), 'Selected: press Ctrl+C (or ⌘C) to copy.');
      }
    });
  }
}
const start = Number(new URLSearchParams(location.search).get('t'));

function renderStatus(a) {
  const badge = $('asset-status');
  // A long video plays from its start while its later chunks are still encoding: "playable" before "ready".
  const shown = a.status === 'processing' && a.playable ? 'playable' : a.status;
  badge.textContent = shown;
  badge.className = `badge status-${shown}`;
  document.body.dataset.status = a.status;
  const err = $('asset-error');
  err.hidden = !a.error;
  err.textContent = a.error ? `${a.error.message} (${a.error.code})` : '';
}

// After a failure the stages that never ran will not run: "skipped" (as the CLI says), not "pending" forever.
const stageStatus = (a, s) => (a.status === 'failed' && s.status === 'pending' ? 'skipped' : s.status);

function renderStages(a) {
  $('stages').replaceChildren(...a.stages.map((st) => ({ ...st, status: stageStatus(a, st) })).map((s) => h('li', { 'data-stage': s.stage, 'data-status': s.status },
    h('span', { text: s.stage }),
    h('progress', { max: 100, value: s.status === 'succeeded' ? 100 : s.progress_percent,
      'aria-label': `${s.stage} progress` }),
    h('span', { class: `badge status-${s.status}`, text: s.status === 'running' ? `${Math.round(s.progress_percent)}%` : s.status }),
    s.last_error && s.status !== 'succeeded' ? h('span', { class: 'err', text: s.last_error }) : null)));
  const sel = $('r-stage');
  if (!sel.options.length) sel.replaceChildren(...a.stages.map((s) => h('option', { value: s.stage, text: s.stage })));
}

function loudnessText(l) {
  if (!l) return null;
  const parts = [`${l.integrated_lufs.toFixed(1)} LUFS`];
  if (l.range_lu != null) parts.push(`LRA ${l.range_lu.toFixed(1)} LU`);
  if (l.true_peak_dbtp != null) parts.push(`true peak ${l.true_peak_dbtp.toFixed(1)} dBTP`);
  return parts.join(' · ');
}

function renderTech(a) {
  const m = a.media || {};
  const rows = [
    ['File', a.original_name], ['Size', bytes(a.size_bytes)], ['Profile', a.profile],
    ['Duration', m.duration ? clock(m.duration) : null], ['Resolution', m.width ? `${m.width}×${m.height}` : null],
    ['Frame rate', m.fps ? `${Math.round(m.fps * 100) / 100} fps` : null], ['Video', m.video_codec],
    ['Audio', m.audio_codec], ['Bit rate', m.bit_rate ? `${Math.round(m.bit_rate / 1000)} kbps` : null],
    ['Container', m.format], ['Rotation', m.rotation ? `${m.rotation}°` : null],
    ['Loudness', loudnessText(a.loudness)],
    ['Added', new Date(a.created_at).toLocaleString()], ['SHA-256', a.sha256],
  ];
  $('tech').replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
  $('machine-tags').replaceChildren(...a.tags.map((t) => h('li', { class: 'tag', text: t })),
    ...data.machine_tags.map((t) => h('li', { class: 'tag machine', title: 'machine tag', text: t })));
}

function renderRenditions(a) {
  $('renditions').tBodies[0].replaceChildren(...a.renditions.map((r) => h('tr', {},
    h('td', {}, h('a', { href: r.url, text: r.name })), h('td', { text: r.kind }),
    h('td', { text: r.width ? `${r.width}×${r.height}` : (r.kind === 'audio' ? 'audio only' : '–') }),
    h('td', { text: r.language && r.language !== 'und' ? r.language : '–' }),
    h('td', { text: r.bandwidth ? `${Math.round(r.bandwidth / 1000)} kbps` : '–' }), h('td', { text: r.codecs || '–' }),
    h('td', { class: r.quality && r.quality.meets_target === false ? 'error' : '', text: quality(r.quality) }),
    h('td', {}, r.kind === 'video' || r.kind === 'audio'
      ? h('a', { href: `/v1/assets/${a.id}/download.mp4?rendition=${encodeURIComponent(r.name)}`, download: '',
        class: 'download', text: 'MP4', 'aria-label': `Download ${r.name} as MP4` }) : '–'))));
}

function quality(q) {
  if (!q) return '–';
  const target = q.target_vmaf == null ? '' : ` (target ${q.target_vmaf}${q.meets_target === false ? ', missed' : ''})`;
  const how = q.measured_on === 'trials' ? ', estimated' : '';
  return `VMAF ${q.vmaf.toFixed(1)}${target}${how}`;
}

async function drawWaveform(url) {
  const canvas = $('waveform');
  try {
    const doc = await api(url);
    const peaks = doc.data || [];
    canvas.hidden = false;
    const ctx = canvas.getContext('2d');
    const w = canvas.width = canvas.clientWidth * devicePixelRatio || 800;
    const hh = canvas.height = 120 * devicePixelRatio;
    ctx.fillStyle = '#4d8fe8';
    const points = peaks.length / 2;
    for (let x = 0; x < w; x++) {
      const i = Math.floor((x / w) * points) * 2;
      const lo = peaks[i] ?? 0; const hi = peaks[i + 1] ?? 0;
      ctx.fillRect(x, (1 - hi) * hh / 2, 1, Math.max(1, (hi - lo) * hh / 2));
    }
  } catch { canvas.hidden = true; }
}

function artifactItem(x) {
  const label = x.key.split('/').slice(1).join('/') || x.key;
  const link = h('a', { href: x.url, text: label });
  const meta = h('span', { class: 'muted', text: `${x.kind} · ${bytes(x.size_bytes)}` });
  if (x.kind === 'poster' || x.kind === 'sprite' || x.content_type.startsWith('image/')) {
    return h('li', {}, h('img', { src: x.url, alt: `${x.kind} ${label}`, loading: 'lazy' }), link, meta);
  }
  if (x.kind === 'oneshot' || x.content_type.startsWith('audio/')) {
    return h('li', {}, link, meta, h('audio', { controls: true, preload: 'none', src: x.url, 'aria-label': `Play ${label}` }));
  }
  return h('li', {}, link, meta);
}

// Artifacts grouped by kind, each group folded (a minute of video has a hundred or more): the page stays short.
function renderArtifacts(a) {
  const groups = new Map();
  for (const x of a.artifacts.filter((y) => y.kind !== 'hls_playlist')) {
    if (!groups.has(x.kind)) groups.set(x.kind, []);
    groups.get(x.kind).push(x);
  }
  const open = new Set([...$('artifacts').querySelectorAll('details[open]')].map((d) => d.dataset.kind));
  $('artifacts').replaceChildren(...[...groups].map(([kind, items]) => h('li', {},
    h('details', { 'data-kind': kind, open: open.has(kind) },
      h('summary', { text: `${kind} (${items.length}, ${bytes(items.reduce((n, x) => n + x.size_bytes, 0))})` }),
      h('ul', { class: 'artifacts' }, ...items.map(artifactItem))))));
  $('artifacts-count').textContent = String(a.artifacts.length);
  const wave = a.artifacts.find((x) => x.kind === 'waveform');
  if (wave && $('waveform').hidden) drawWaveform(wave.url);
  const captions = a.artifacts.find((x) => x.kind === 'captions' || x.key.endsWith('analysis/captions.vtt'));
  if (captions) player.addCaptions(captions.url);
}

function renderScenes() {
  $('scenes-empty').hidden = data.scenes.length > 0;
  $('scenes').replaceChildren(...data.scenes.map((s, i) => h('li', {},
    h('button', { type: 'button', 'data-start': String(s.start), onclick: () => player.seek(s.start),
      'aria-label': `Scene ${i + 1}, ${clock(s.start)} to ${clock(s.end)}` },
    s.thumbnail_url ? h('img', { src: s.thumbnail_url, alt: '', loading: 'lazy' }) : null,
    h('span', { text: `${clock(s.start)}–${clock(s.end)}` })))));
}

let eventsTimer = null;
async function loadEvents() {
  try {
    const { items } = await api(`/v1/assets/${asset.id}/events?limit=500`);
    $('events').tBodies[0].replaceChildren(...items.slice().reverse().map((e) => h('tr', {},
      h('td', { text: new Date(e.at).toLocaleTimeString() }), h('td', { text: e.event }), h('td', { text: e.actor }),
      h('td', { class: 'detail', text: Object.keys(e.detail || {}).length ? JSON.stringify(e.detail) : '' }))));
  } catch (e) {
    $('events').tBodies[0].replaceChildren(h('tr', {}, h('td', { colspan: 4, class: 'error', text: message(e) })));
  }
}
const refreshEvents = () => { clearTimeout(eventsTimer); eventsTimer = setTimeout(loadEvents, 400); };

// Related assets are listed by title and poster, never by a bare id.
async function describe(ids) {
  const found = await Promise.all([...new Set(ids)].map((id) => api(`/v1/assets/${id}`).catch(() => null)));
  return new Map(found.filter(Boolean).map((x) => [x.id, x]));
}

function assetLink(id, known) {
  const x = known.get(id);
  return h('a', { href: `/assets/${id}`, class: 'asset-link' },
    x && (x.playback?.poster_url || x.poster_url)
      ? h('img', { src: x.playback?.poster_url || x.poster_url, alt: '', loading: 'lazy', width: 64, height: 36 })
      : null,
    x ? (x.title || x.original_name) : 'an asset you cannot see');
}

async function loadRelated() {
  const show = (el, items, make) => el.replaceChildren(...(items.length ? items.map(make) : [h('li', { class: 'muted', text: 'none found' })]));
  try {
    const { items } = await api(`/v1/assets/${asset.id}/similar?limit=5`);
    const known = await describe(items.map((s) => s.asset_id));
    show($('similar'), items, (s) => h('li', {}, assetLink(s.asset_id, known), ` ${s.reason} (${s.score.toFixed(2)})`));
  } catch (e) { show($('similar'), [], null); $('similar').firstChild.textContent = message(e); }
  try {
    const d = await api(`/v1/assets/${asset.id}/duplicates`);
    const all = [...(d.exact || []), ...(d.near || [])];
    const known = await describe(all.map((s) => s.asset_id));
    show($('duplicates'), all, (s) => h('li', {}, assetLink(s.asset_id, known), ` ${s.kind}: ${s.reason}`));
  } catch (e) { show($('duplicates'), [], null); $('duplicates').firstChild.textContent = message(e); }
}

// Scenes and machine tags are not in the asset JSON: when processing finishes, read them from this page again.
async function refreshPageData() {
  try {
    const r = await fetch(location.pathname, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    const fresh = JSON.parse(doc.getElementById('asset-data').textContent);
    data.scenes = fresh.scenes; data.machine_tags = fresh.machine_tags;
    renderScenes(); renderTech(asset);
  } catch { /* keep what is shown */ }
}

// What the player column shows: the player for something playable, a waveform-topped audio player for audio,
// and for a failed asset the reason instead of an empty player and "no scenes".
function renderLayout(a) {
  const failed = a.status === 'failed';
  const audioOnly = !!a.media && !a.media.has_video;
  document.body.dataset.kind = failed ? 'failed' : (audioOnly ? 'audio' : 'video');
  $('player-box').hidden = failed;
  $('scenes-box').hidden = failed || audioOnly;
  $('failed-box').hidden = !failed;
  $('failed-reason').textContent = failed && a.error ? a.error.message : '';
  $('player-box').classList.toggle('audio-only', audioOnly);
  if (audioOnly) {
    $('video').removeAttribute('poster');
    if ($('waveform').parentElement !== $('player-box')) $('player-box').prepend($('waveform'));
  }
}

function render(a) {
  const wasTerminal = TERMINAL.has(asset.status);
  asset = a;
  renderLayout(a);
  renderStatus(a); renderStages(a); renderTech(a); renderRenditions(a); renderArtifacts(a);
  if (a.media && a.media.has_video) player.stillBase = `/v1/assets/${a.id}/thumbnail.jpg`;
  // Signed, expiring URLs (no key, no cookie needed): the HLS grant covers the variants and segments too.
  const links = a.playback || {};
  if (links.playback_url && (a.status === 'ready' || a.playable)) {
    player.load(links.playback_url);
    player.loadSprites(links.sprite_vtt_url);
  }
  if (TERMINAL.has(a.status) && !wasTerminal) { loadRelated(); refreshPageData(); }
  refreshEvents();
}

function fillEdit(a) {
  $('e-title').value = a.title; $('e-description').value = a.description; $('e-tags').value = a.tags.join(', ');
}

$('edit-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const tags = $('e-tags').value.split(',').map((t) => t.trim()).filter(Boolean);
  try {
    const a = await api(`/v1/assets/${asset.id}`, { method: 'PATCH',
      json: { title: $('e-title').value, description: $('e-description').value, tags } });
    $('asset-title').textContent = a.title || a.original_name;
    render(a); fillEdit(a);
    say($('edit-msg'), 'Saved.');
  } catch (e) { say($('edit-msg'), message(e), false); }
});

$('reprocess-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const r = await api(`/v1/assets/${asset.id}/reprocess`, { method: 'POST', json: { stage: $('r-stage').value } });
    say($('reprocess-msg'), `Queued ${r.stage}${r.job_id ? ` (job ${r.job_id})` : ''}.`);
  } catch (e) { say($('reprocess-msg'), message(e), false); }
});

$('delete').addEventListener('click', async () => {
  // eslint-disable-next-line no-alert
  if (!window.confirm(`Delete “${asset.title || asset.original_name}” and all its media? This cannot be undone.`)) return;
  try {
    await api(`/v1/assets/${asset.id}`, { method: 'DELETE' });
    location.assign('/');
  } catch (e) { say($('delete-msg'), message(e), false); }
});

if (start > 0) player.pendingSeek = start;
fillEdit(asset);
renderScenes();
render(asset);
if (TERMINAL.has(asset.status)) loadRelated();
watchAsset(asset.id, render, { onDeleted: () => {
  say($('asset-error'), 'This asset has been deleted.', false);
  document.body.dataset.status = 'deleted';
} });
