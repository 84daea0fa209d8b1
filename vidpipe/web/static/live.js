// Live asset status: Server-Sent Events from /v1/events/stream (event "asset", data = the asset JSON), with a
// fallback to polling GET /v1/assets/{id} while the stream is down.
import { api } from './api.js';

export function watchAsset(assetId, onAsset, options = {}) {
  return watchAssets([assetId], onAsset, options);
}

/** Follow several assets (up to 100, the stream's filter limit) with one stream; returns a stop function. */
export function watchAssets(assetIds, onAsset, { pollMs = 3000, onDeleted = null } = {}) {
  let source = null; let timer = null; let closed = false;
  const ids = assetIds.slice(0, 100);
  const poll = async () => {
    if (closed) return;
    for (const id of ids) {
      try { onAsset(await api(`/v1/assets/${id}`)); } catch { /* next round */ }
    }
    timer = setTimeout(poll, pollMs);
  };
  const open = () => {
    if (closed || typeof EventSource === 'undefined') { if (!timer) poll(); return; }
    const query = ids.map((id) => `asset_id=${encodeURIComponent(id)}`).join('&');
    source = new EventSource(`/v1/events/stream?${query}`, { withCredentials: true });
    source.addEventListener('asset', (ev) => {
      if (timer) { clearTimeout(timer); timer = null; }
      try { onAsset(JSON.parse(ev.data)); } catch { /* ignore a malformed event */ }
    });
    source.addEventListener('deleted', (ev) => {
      if (!onDeleted) return;
      try { onDeleted(JSON.parse(ev.data).id); } catch { onDeleted(null); }
    });
    source.addEventListener('error', () => {
      // EventSource reconnects on its own; poll meanwhile so the page never goes stale.
      if (!timer && !closed) timer = setTimeout(poll, pollMs);
    });
  };
  open();
  return () => { closed = true; if (source) source.close(); if (timer) clearTimeout(timer); };
}

export const TERMINAL = new Set(['ready', 'failed']);
