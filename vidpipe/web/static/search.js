// One box, a modality switch, clip-level hits; a hit opens the asset with the player at its start (?t=).
import { api, clock, h, message, say } from './api.js';

const form = document.getElementById('search-form');
const hits = document.getElementById('hits');
const msg = document.getElementById('search-msg');
const params = new URLSearchParams(location.search);

// Titles and posters of the assets behind the hits (hits carry only a clip thumbnail, when there is one).
async function describe(items) {
  const ids = [...new Set(items.map((i) => i.asset_id))];
  const found = await Promise.all(ids.map((id) => api(`/v1/assets/${id}`).catch(() => null)));
  return new Map(found.filter(Boolean).map((a) => [a.id, a]));
}

async function run(q, modality) {
  say(msg, 'Searching…');
  hits.replaceChildren();
  try {
    const res = await api(`/v1/search?${new URLSearchParams({ q, modality, limit: '30' })}`);
    // Which modalities the server cannot search is the operator's business (the Jobs page's search status),
    // not repeated on every results page; hits below the relevance floor never arrive.
    say(msg, res.items.length ? `${res.items.length} result${res.items.length === 1 ? '' : 's'}.`
      : 'Nothing relevant found. Try other words, or another kind of search.');
    const assets = await describe(res.items);
    hits.replaceChildren(...res.items.map((hit) => {
      const a = assets.get(hit.asset_id);
      // The frame at the hit (not the asset's poster); audio-only assets have only their poster, if any.
      const pictures = !a || !a.media || a.media.has_video;
      const at = (hit.start + Math.min(0.5, (hit.end - hit.start) / 2)).toFixed(2);
      const thumb = pictures ? `/v1/assets/${hit.asset_id}/thumbnail.jpg?time=${at}&width=256` : (a && ((a.playback && a.playback.poster_url) || a.poster_url));
      const href = `/assets/${hit.asset_id}?t=${hit.start.toFixed(2)}`;
      return h('li', {}, h('a', { href, 'data-start': String(hit.start) },
        thumb ? h('img', { src: thumb, alt: '', loading: 'lazy' }) : h('span', { class: 'noimg' }),
        h('span', {},
          h('span', { class: 'when', text: `${clock(hit.start)}–${clock(hit.end)}` }),
          h('span', { class: 'muted modality', text: ` · ${MODALITY_LABELS[hit.modality] || hit.modality} · score ${hit.score.toFixed(2)}` }),
          hit.text ? h('span', { class: 'text', text: ` — “${hit.text}”` }) : null,
          h('br'), h('span', { class: 'title', text: a ? (a.title || a.original_name) : `asset ${hit.asset_id.slice(0, 8)}` }))));
    }));
  } catch (e) {
    say(msg, e.code === 'search_model_unavailable'
      ? `${LABELS[modality] || modality} cannot be searched on this server yet (see the search status on the Jobs page).`
      : message(e), false);
  }
}

const LABELS = { visual: 'Pictures', audio: 'Sounds', speech: 'Speech', all: 'This' };
const MODALITY_LABELS = { visual: 'picture', audio: 'sound', speech: 'speech', title: 'title' };

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = form.q.value.trim();
  if (!q) { say(msg, 'Type what to look for.', false); return; }
  const modality = form.modality.value;
  history.replaceState(null, '', `/search?${new URLSearchParams({ q, modality })}`);
  run(q, modality);
});

if (params.get('q')) {
  form.q.value = params.get('q');
  const m = params.get('modality');
  if (m && form.querySelector(`input[value="${CSS.escape(m)}"]`)) form.modality.value = m;
  run(form.q.value, form.modality.value);
}
