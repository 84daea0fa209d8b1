// The console's one way to talk to /v1: same-origin cookies, the CSRF header on every state-changing call,
// and errors turned into readable messages ({"error": {"code", "message"}} from the API).
let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    this.status = status; this.code = code; this.fields = fields || null;
  }
}

export async function csrfToken(refresh = false) {
  if (csrf && !refresh) return csrf;
  const r = await fetch('/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) { toSignIn(); throw new ApiError(401, 'unauthorized', 'Your session has ended; sign in again.'); }
  if (!r.ok) throw new ApiError(r.status, 'session', 'Could not read your session.');
  csrf = (await r.json()).csrf_token;
  return csrf;
}

export function toSignIn() {
  const next = location.pathname + location.search;
  location.assign('/signin?next=' + encodeURIComponent(next));
}

async function errorFrom(r) {
  let code = 'http_' + r.status;
  let message = `The server answered ${r.status} ${r.statusText}`.trim();
  let fields = null;
  try {
    const body = await r.json();
    if (body && body.error) { code = body.error.code || code; message = body.error.message || message; fields = body.error.fields; }
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(r.status, code, message, fields);
}

/** fetch() against the API. `json` is sent as a JSON body; returns the parsed body (or null for 204). */
export async function api(path, { method = 'GET', json, body, headers = {}, signal, raw = false } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (method !== 'GET' && method !== 'HEAD') h['X-CSRF-Token'] = await csrfToken();
  if (json !== undefined) { h['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
  let r;
  try {
    r = await fetch(path, { method, headers: h, body, credentials: 'same-origin', signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  if (r.status === 401) { toSignIn(); throw new ApiError(401, 'unauthorized', 'Your session has ended; sign in again.'); }
  if (r.status === 403 && method !== 'GET' && !raw) {
    csrf = null;  // a stale token: the next call fetches a fresh one
  }
  if (raw) return r;
  if (!r.ok) throw await errorFrom(r);
  if (r.status === 204 || method === 'HEAD') return null;
  const type = r.headers.get('content-type') || '';
  return type.includes('json') ? r.json() : r.text();
}

export { errorFrom };

export function message(err) {
  if (err instanceof ApiError) return err.message;
  return 'Something went wrong: ' + (err && err.message ? err.message : String(err));
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

export function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0; let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 && i ? 1 : 0)} ${units[i]}`;
}

export function say(el, text, ok = true) {
  el.textContent = text;
  el.classList.toggle('ok', ok && !!text);
  el.classList.toggle('bad', !ok);
  if (el.hasAttribute('hidden') && text) el.hidden = false;
}

export function toast(text) {
  const t = document.getElementById('toast');
  if (!t) return;
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 5000);
}
