// Drag & drop or choose files; each goes up in chunks (POST /v1/uploads, then PATCH with Upload-Offset),
// resuming from the server's offset (HEAD, or the 409 body) after a dropped connection.
import { api, ApiError, errorFrom, h, message, say, bytes, csrfToken } from './api.js';
import { watchAsset, TERMINAL } from './live.js';

const form = document.getElementById('upload-form');
const input = document.getElementById('files');
const zone = document.getElementById('dropzone');
const list = document.getElementById('uploads');
const profile = document.getElementById('profile');
const titleInput = document.getElementById('title');
const formError = document.getElementById('upload-error');
const MAX_RETRIES = 8;

async function loadProfiles() {
  try {
    const { items } = await api('/v1/profiles');
    const current = profile.value;
    profile.replaceChildren(...items.map((p) => h('option', { value: p.name, text: p.builtin ? p.name : `${p.name} (custom)` })));
    profile.value = items.some((p) => p.name === current) ? current : items[0].name;
  } catch (e) {
    say(formError, 'Could not load the profiles: ' + message(e), false);
  }
}

function sendChunk(url, offset, blob, token, onProgress) {
  // XMLHttpRequest for upload progress within a chunk (fetch has none).
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PATCH', url);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Upload-Offset', String(offset));
    xhr.setRequestHeader('Content-Type', 'application/offset+octet-stream');
    xhr.setRequestHeader('X-CSRF-Token', token);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (ev) => onProgress(ev.loaded);
    xhr.onload = () => resolve(new Response(xhr.responseText || null,
      { status: xhr.status, headers: { 'content-type': xhr.getResponseHeader('content-type') || '' } }));
    xhr.onerror = () => reject(new ApiError(0, 'network', 'connection lost'));
    xhr.ontimeout = xhr.onerror;
    xhr.send(blob);
  });
}

async function serverOffset(id) {
  const r = await fetch(`/v1/uploads/${id}`, { method: 'HEAD', credentials: 'same-origin' });
  if (!r.ok) throw await errorFrom(r);
  return Number(r.headers.get('Upload-Offset'));
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// An unfinished upload is remembered per file (name, size, modification time), so choosing the same file again
// after a reload continues from the server's offset instead of starting over.
const remembered = (file) => `vidpipe.upload:${file.name}:${file.size}:${file.lastModified}`;
const active = new Set();  // uploads still sending: leaving the page asks first

function forget(file) { try { localStorage.removeItem(remembered(file)); } catch { /* private mode */ } }

async function resumeOrCreate(file) {
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(remembered(file)) || 'null'); } catch { saved = null; }
  if (saved && saved.id) {
    try {
      const found = await api(`/v1/uploads/${saved.id}`);
      if (found.size === file.size && !found.asset_id) return { ...found, resumed: true };
    } catch { /* expired or gone: start a new one */ }
    forget(file);
  }
  const body = { filename: file.name, size: file.size, profile: profile.value };
  const title = titleInput.value.trim();
  if (title) body.title = title;
  const created = await api('/v1/uploads', { method: 'POST', json: body });
  try { localStorage.setItem(remembered(file), JSON.stringify({ id: created.id })); } catch { /* no memory */ }
  return created;
}

/** "42% · 3.1 MB of 7.4 MB · 1.2 MB/s · about 4 s left" (speed and time once there is a measurement). */
export function progressText(sent, total, bytesPerSecond) {
  const pct = total ? Math.floor((sent / total) * 100) : 100;
  const parts = [`${pct}%`, `${bytes(sent)} of ${bytes(total)}`];
  if (bytesPerSecond > 0) {
    parts.push(`${bytes(bytesPerSecond)}/s`);
    const left = Math.ceil((total - sent) / bytesPerSecond);
    parts.push(left >= 1 ? `about ${left < 90 ? `${left} s` : `${Math.round(left / 60)} min`} left` : 'finishing');
  }
  return parts.join(' · ');
}

function meter(file, bar, show) {
  // Speed over the last few seconds of this page's sending (a resumed upload's earlier bytes do not count).
  const samples = [];
  return (sent) => {
    const now = performance.now();
    samples.push([now, sent]);
    while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
    const [t0, b0] = samples[0];
    const speed = now - t0 > 250 ? ((sent - b0) * 1000) / (now - t0) : 0;
    bar.value = sent;
    show(`Uploading… ${progressText(sent, file.size, speed)}`);
  };
}

async function upload(file, row) {
  const bar = row.querySelector('progress');
  const state = row.querySelector('.state');
  const show = (text, ok = true) => say(state, text, ok);
  const created = await resumeOrCreate(file);
  row.dataset.uploadId = created.id;
  const url = `/v1/uploads/${created.id}`;
  const chunk = Math.max(1, created.chunk_size || 8 * 1024 * 1024);
  let offset = created.offset || 0;
  let retries = 0;
  bar.max = Math.max(file.size, 1);
  const progress = meter(file, bar, show);
  if (created.resumed) row.dataset.resumedFrom = String(offset);
  progress(offset);
  if (created.resumed && offset) show(`Resuming from ${bytes(offset)} of ${bytes(file.size)}…`);
  for (;;) {
    const end = Math.min(file.size, offset + chunk);
    let r;
    try {
      r = await sendChunk(url, offset, file.slice(offset, end), await csrfToken(), (n) => progress(offset + n));
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== 'network' || ++retries > MAX_RETRIES) throw e;
      show(`Connection lost; resuming (attempt ${retries} of ${MAX_RETRIES})…`, false);
      await sleep(Math.min(8000, 400 * 2 ** (retries - 1)));
      try { offset = await serverOffset(created.id); } catch { /* still down: the next PATCH retries */ }
      continue;
    }
    if (r.status === 409 || r.status === 400) {
      // offset_mismatch / upload_busy (409) or client_disconnected (400): go on from the server's offset.
      const b = await r.clone().json().catch(() => ({}));
      const code = b.error && b.error.code;
      if (b.offset === undefined || !['offset_mismatch', 'upload_busy', 'client_disconnected'].includes(code)) {
        throw await errorFrom(r);
      }
      if (code !== 'offset_mismatch' && ++retries > MAX_RETRIES) throw await errorFrom(r);
      if (code === 'upload_busy') await sleep(500);
      offset = Number(b.offset);
      continue;
    }
    if (r.status >= 500 || r.status === 408 || r.status === 429) {
      if (++retries > MAX_RETRIES) throw await errorFrom(r);
      await sleep(Math.min(8000, 400 * 2 ** (retries - 1)));
      try { offset = await serverOffset(created.id); } catch { /* retry the PATCH */ }
      continue;
    }
    if (!r.ok) throw await errorFrom(r);
    const b = await r.json();
    retries = 0;
    offset = Number(b.offset);
    progress(offset);
    if (b.asset) { bar.value = bar.max; return b; }
  }
}

function follow(asset, row, duplicate) {
  const state = row.querySelector('.state');
  row.dataset.duplicate = duplicate ? 'true' : 'false';
  const link = h('a', { href: `/assets/${asset.id}`, text: duplicate ? 'Open the existing asset' : 'Open' });
  row.querySelector('.links').replaceChildren(link);
  // A file with the same bytes as one already in the library is not stored twice: say so, every time.
  const known = duplicate ? `Already in the library (same bytes as “${asset.title || asset.original_name}”, `
    + `added ${new Date(asset.created_at).toLocaleString()}); nothing new was stored. ` : '';
  const render = (a) => {
    if (a.status === 'failed') {
      say(state, known + 'Failed: ' + (a.error ? a.error.message : 'processing failed'), false);
    } else {
      say(state, known + (a.status === 'ready' ? 'Ready' : `Uploaded — ${a.status}…`));
    }
    row.dataset.status = a.status;
    return TERMINAL.has(a.status);
  };
  if (render(asset)) return;
  const stop = watchAsset(asset.id, (a) => { if (render(a)) stop(); });
}

function cancelButton(file, row) {
  return h('button', { type: 'button', class: 'secondary', text: 'Cancel', 'aria-label': `Cancel the upload of ${file.name}`,
    onclick: async () => {
      row.dataset.cancelled = 'true';
      active.delete(row);
      forget(file);
      if (row.dataset.uploadId) await api(`/v1/uploads/${row.dataset.uploadId}`, { method: 'DELETE' }).catch(() => null);
      location.reload();  // stops the sending in flight; the partial file is gone from the server
    } });
}

function addFiles(files) {
  formError.hidden = true;
  for (const file of files) {
    const row = h('li', { class: 'upload', 'data-name': file.name },
      h('div', { class: 'name', text: file.name }),
      h('progress', { max: 1, value: 0, 'aria-label': `Upload progress of ${file.name}` }),
      h('div', { class: 'state msg', role: 'status', text: 'Waiting…' }),
      h('div', { class: 'links' }));
    row.querySelector('.links').append(cancelButton(file, row));
    list.append(row);
    active.add(row);
    upload(file, row).then((res) => {
      forget(file);
      follow(res.asset, row, res.duplicate);
    }).catch((e) => {
      if (e && e.status && e.status < 500) forget(file);  // refused for good; a network error stays resumable
      row.dataset.status = 'rejected';
      say(row.querySelector('.state'), 'Rejected: ' + message(e), false);
      row.querySelector('.links').replaceChildren();
    }).finally(() => active.delete(row));
  }
  titleInput.value = '';
}

window.addEventListener('beforeunload', (ev) => {
  if (!active.size) return;
  ev.preventDefault();
  ev.returnValue = '';  // the browser asks "Leave site?"; an unfinished upload can be resumed by choosing the file again
});

input.addEventListener('change', () => { addFiles([...input.files]); input.value = ''; });
zone.addEventListener('dragover', (ev) => { ev.preventDefault(); zone.classList.add('over'); });
zone.addEventListener('dragleave', () => zone.classList.remove('over'));
zone.addEventListener('drop', (ev) => {
  ev.preventDefault();
  zone.classList.remove('over');
  addFiles([...ev.dataTransfer.files]);
});
form.addEventListener('submit', (ev) => ev.preventDefault());
loadProfiles();
