// Queue depth per stage, running jobs (worker, percent) and dead jobs with retry / cancel; refreshed every 2 s.
import { api, h, message, say } from './api.js';

const msg = document.getElementById('jobs-msg');
const body = (id) => document.getElementById(id).tBodies[0];
// Assets are named by title and poster, as everywhere else in the console (not by a raw id). Each asset is
// read once per page view: the table refreshes every 2 s, titles rarely change.
const known = new Map(); // asset id -> the asset, or null when it is gone
async function learn(ids) {
  const missing = [...new Set(ids.filter((id) => id && !known.has(id)))];
  await Promise.all(missing.map(async (id) => {
    try { known.set(id, await api(`/v1/assets/${id}`)); } catch { known.set(id, null); }
  }));
}
function assetLink(id) {
  if (!id) return '–';
  const x = known.get(id);
  return h('a', { href: `/assets/${id}`, class: 'asset-link' },
    x && x.poster_url ? h('img', { src: x.poster_url, alt: '', loading: 'lazy', width: 64, height: 36 }) : null,
    x ? (x.title || x.original_name) : 'a deleted asset');
}
let busy = false;

function rows(tbody, items, make, empty) {
  tbody.replaceChildren(...(items.length ? items.map(make)
    : [h('tr', {}, h('td', { colspan: tbody.parentElement.tHead.rows[0].cells.length, class: 'muted', text: empty }))]));
}

async function act(job, verb) {
  try {
    await api(`/v1/jobs/${job.id}/${verb}`, { method: 'POST' });
    say(msg, `Job ${job.id} (${job.stage}): ${verb === 'retry' ? 'queued again' : 'cancelled'}.`);
  } catch (e) { say(msg, `Job ${job.id}: ${message(e)}`, false); }
  refresh();
}


async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const [stats, dead] = await Promise.all([api('/v1/stats'), api('/v1/jobs?status=dead&limit=100')]);
    await learn([...(stats.running || []), ...dead.items].map((j) => j.asset_id));
    rows(body('queue'), stats.stages, (r) => h('tr', { 'data-stage': r.stage }, h('td', { text: r.stage }),
      h('td', { text: String(r.queued) }), h('td', { text: String(r.running) })), 'The queue is empty.');
    // "failed" jobs failed for good (bad input is never retried; waiting retries count as queued): their
    // assets are in the library's failed filter, not in the dead-jobs list below.
    document.getElementById('dead-count').replaceChildren(`Dead jobs (retry or cancel below): ${stats.dead} · `,
      `failed for good, not retried (bad input): ${stats.failed} — `,
      h('a', { href: '/?status=failed', text: 'see the failed assets and their reasons' }));
    rows(body('running'), stats.running || [], (j) => h('tr', { 'data-job-id': String(j.id) },
      h('td', { text: String(j.id) }), h('td', { text: j.stage }), h('td', {}, assetLink(j.asset_id)),
      h('td', { text: j.worker || '–' }),
      h('td', {}, h('progress', { max: 100, value: j.percent, 'aria-label': `job ${j.id} progress` }),
        ` ${Math.round(j.percent)}%`)), 'Nothing is running.');
    rows(body('dead'), dead.items, (j) => h('tr', { 'data-job-id': String(j.id) },
      h('td', { text: String(j.id) }), h('td', { text: j.stage }), h('td', {}, assetLink(j.asset_id)),
      h('td', { text: [j.last_error_code, j.last_error].filter(Boolean).join(': ') || '–' }),
      h('td', {}, h('button', { type: 'button', text: 'Retry', 'aria-label': `Retry job ${j.id}`, onclick: () => act(j, 'retry') }),
        ' ', h('button', { type: 'button', class: 'secondary', text: 'Cancel', 'aria-label': `Cancel job ${j.id}`,
          onclick: () => act(j, 'cancel') }))), 'No dead jobs.');
    if (msg.classList.contains('bad') && msg.dataset.kind === 'load') say(msg, '');
  } catch (e) {
    say(msg, 'Could not load the queue: ' + message(e), false);
    msg.dataset.kind = 'load';
  } finally { busy = false; }
}

// Operator hints live here, once: which kinds of search this server can run, and why not.
async function searchStatus() {
  const list = document.getElementById('search-status');
  try {
    const { modalities } = await api('/v1/search/status');
    list.replaceChildren(...Object.entries(modalities).map(([m, s]) => h('li', { 'data-modality': m },
      h('strong', { text: m }), s.available ? ` — searchable (hits below ${s.floor} are left out)` : ` — not searchable: ${s.reason}`)));
  } catch (e) { list.replaceChildren(h('li', { class: 'muted', text: message(e) })); }
}

searchStatus();
refresh();
setInterval(() => { if (!document.hidden) refresh(); }, 2000);
