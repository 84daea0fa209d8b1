// The library grid stays current without a reload: cards still queued or processing follow the live stream
// (/v1/events/stream) and change their status, poster, duration and failure reason in place.
import { api, clock, message, say } from './api.js';
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
  // The signed poster: the unsigned /v1/media URL is rooted at the API's public base (API Gateway in AWS).
  const poster = (a.playback && a.playback.poster_url) || a.poster_url;
  if (poster && !thumb.querySelector('img')) {
    const img = document.createElement('img');
    Object.assign(img, { src: poster, alt: '', width: 320, height: 180 });
    thumb.replaceChildren(img);
  }
}

// Follow cards until they are ready or failed (one stream per call: the page's pending cards, then any reprocessed).
function follow(list) {
  const byId = new Map(list.map((c) => [c.dataset.assetId, c]));
  if (!byId.size) return;
  const stop = watchAssets([...byId.keys()], (a) => {
    const card = byId.get(a.id);
    if (!card) return;
    render(card, a);
    if (TERMINAL.has(a.status)) byId.delete(a.id);
    if (!byId.size) stop();
  }, { onDeleted: (id) => { const card = byId.get(id); if (card) { card.classList.add('deleted'); byId.delete(id); } } });
}

follow(cards().filter((c) => !TERMINAL.has(c.dataset.status)));

// Bulk actions on the selected cards: add a tag, reprocess from the probe, delete (after a confirmation).
const bulk = document.getElementById('bulk');
if (bulk) {
  const picks = () => [...grid.querySelectorAll('input.pick')];
  const chosen = () => picks().filter((p) => p.checked).map((p) => p.value);
  const sync = () => {
    const n = chosen().length;
    document.getElementById('bulk-count').textContent = `${n} selected`;
    for (const b of bulk.querySelectorAll('button')) b.disabled = n === 0;
  };
  grid.addEventListener('change', sync);
  document.getElementById('select-all').addEventListener('change', (ev) => {
    for (const p of picks()) p.checked = ev.target.checked;
    sync();
  });
  bulk.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const action = ev.submitter && ev.submitter.dataset.action;
    const ids = chosen();
    const msg = document.getElementById('bulk-msg');
    const tag = document.getElementById('bulk-tag').value.trim().toLowerCase();
    if (action === 'tag' && !tag) { say(msg, 'Type the tag to add.', false); return; }
    // eslint-disable-next-line no-alert
    if (action === 'delete' && !window.confirm(`Delete ${ids.length} asset(s) and all their media? This cannot be undone.`)) return;
    const one = async (id) => {
      if (action === 'tag') {
        const a = await api(`/v1/assets/${id}`);
        if (!a.tags.includes(tag)) await api(`/v1/assets/${id}`, { method: 'PATCH', json: { tags: [...a.tags, tag] } });
      } else if (action === 'reprocess') {
        await api(`/v1/assets/${id}/reprocess`, { method: 'POST', json: { stage: 'probe' } });
      } else if (action === 'delete') {
        await api(`/v1/assets/${id}`, { method: 'DELETE' });
        grid.querySelector(`.asset-card[data-asset-id="${id}"]`)?.remove();
      }
    };
    const results = await Promise.allSettled(ids.map(one));
    const failed = results.filter((r) => r.status === 'rejected');
    const verb = { tag: `tagged “${tag}”`, reprocess: 'queued for reprocessing', delete: 'deleted' }[action];
    say(msg, `${ids.length - failed.length} of ${ids.length} ${verb}.`
      + (failed.length ? ` Failed: ${message(failed[0].reason)}` : ''), !failed.length);
    if (action === 'reprocess') {
      follow(ids.map((id) => grid.querySelector(`.asset-card[data-asset-id="${id}"]`)).filter(Boolean));
    }
    if (action === 'tag') {
      for (const id of ids) {
        const card = grid.querySelector(`.asset-card[data-asset-id="${id}"]`);
        let tags = card.querySelector('.tags');
        if (!tags) { tags = Object.assign(document.createElement('ul'), { className: 'tags' }); card.querySelector('.meta').append(tags); }
        if (![...tags.children].some((li) => li.textContent === tag)) {
          tags.append(Object.assign(document.createElement('li'), { className: 'tag', textContent: tag }));
        }
      }
    }
    sync();
  });
}
