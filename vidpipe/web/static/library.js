// The library grid stays current without a reload: cards still queued or processing follow the live stream
// (/v1/events/stream) and change their status, poster, duration and failure reason in place.
import { clock } from './api.js';
import { watchAssets, TERMINAL } from './live.js';

const grid = document.querySelector('.grid');
// The filters are folded on a phone (the first screen shows assets) and open on a wide screen.
const filters = document.getElementById('filters-box');
if (filters && matchMedia('(min-width: 760px)').matches) filters.open = true;
const cards = () => [...grid.querySelectorAll('.asset-card')];

function setText(card, selector, text, make) {
  let el = card.querySelector(selector);
  if (!text) { if (el) el.remove(); return; }
  if (!el) el = make();
  el.textContent = text;
}

function render(card, a) {
  card.dataset.status = a.status;
  const badge = card.querySelector('.badge');
  badge.textContent = a.status;
  badge.className = `badge status-${a.status}`;
  const facts = card.querySelector('.facts');
  const m = a.media || {};
  const span = (cls) => () => { const s = document.createElement('span'); s.className = cls; facts.append(s); return s; };
  setText(card, '.facts .dur', m.duration ? clock(m.duration) : '', span('dur'));
  setText(card, '.facts .res', m.height ? `${m.width}×${m.height}` : '', span('res'));
  const why = a.status === 'failed' && a.error ? a.error.message.slice(0, 140) : '';
  setText(card, '.why', why, () => {
    const p = document.createElement('p'); p.className = 'why'; card.querySelector('.meta').append(p); return p;
  });
  const thumb = card.querySelector('.thumb');
  if (a.poster_url && !thumb.querySelector('img')) {
    const img = document.createElement('img');
    Object.assign(img, { src: a.poster_url, alt: '', width: 320, height: 180 });
    thumb.replaceChildren(img);
  }
}

const pending = cards().filter((c) => !TERMINAL.has(c.dataset.status));
if (pending.length) {
  const byId = new Map(pending.map((c) => [c.dataset.assetId, c]));
  const stop = watchAssets([...byId.keys()], (a) => {
    const card = byId.get(a.id);
    if (!card) return;
    render(card, a);
    if (TERMINAL.has(a.status)) byId.delete(a.id);
    if (!byId.size) stop();
  }, { onDeleted: (id) => { const card = byId.get(id); if (card) { card.classList.add('deleted'); byId.delete(id); } } });
}
