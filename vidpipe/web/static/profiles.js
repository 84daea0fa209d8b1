// Processing profiles: list (built-ins read-only), create / edit / delete stored ones; the server's validation
// messages (422 `fields`, keyed like `ladder.0.height`) appear beside the controls they are about.
import { api, h, message, say } from './api.js';

const $ = (id) => document.getElementById(id);
const form = $('profile-form');
const msg = $('profiles-msg');
const errors = $('pf-errors');
let editing = null;

function fieldInput(name, value, label) {
  return h('input', { type: 'number', value: String(value ?? ''), 'data-field': name, 'aria-label': label, required: true });
}

function addRung(r = { height: '', video_kbps: '', audio_kbps: 128 }) {
  const tbody = $('rungs').tBodies[0];
  const i = tbody.rows.length;
  const row = h('tr', {},
    h('td', {}, fieldInput(`ladder.${i}.height`, r.height, `Rung ${i + 1} height`)),
    h('td', {}, fieldInput(`ladder.${i}.video_kbps`, r.video_kbps, `Rung ${i + 1} video kbps`)),
    h('td', {}, fieldInput(`ladder.${i}.audio_kbps`, r.audio_kbps, `Rung ${i + 1} audio kbps`)),
    h('td', {}, h('button', { type: 'button', class: 'secondary', text: 'Remove', 'aria-label': `Remove rung ${i + 1}`,
      onclick: () => { row.remove(); renumber(); } })));
  tbody.append(row);
}

function renumber() {
  [...$('rungs').tBodies[0].rows].forEach((row, i) => {
    const names = ['height', 'video_kbps', 'audio_kbps'];
    row.querySelectorAll('input').forEach((inp, j) => { inp.dataset.field = `ladder.${i}.${names[j]}`; });
  });
}

function clearErrors() {
  errors.hidden = true; errors.replaceChildren();
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  form.querySelectorAll('.field-error').forEach((el) => el.remove());
}

function showErrors(fields, fallback) {
  const items = [];
  for (const [where, text] of Object.entries(fields || {})) {
    const key = where.replace(/^body\./, '');
    const el = form.querySelector(`[data-field="${CSS.escape(key)}"]`)
      || form.querySelector(`[data-field="${CSS.escape(key.split('.')[0])}"]`);
    const id = `err-${key.replace(/[^a-z0-9]/gi, '-')}`;
    if (el) {
      el.setAttribute('aria-invalid', 'true');
      el.setAttribute('aria-describedby', id);
      el.after(h('span', { class: 'field-error error', id, text }));
    }
    items.push(h('li', {}, `${key}: ${text}`));
  }
  errors.replaceChildren(h('p', { text: 'Please fix the following:' }), h('ul', {}, ...(items.length ? items : [h('li', { text: fallback })])));
  errors.hidden = false;
  errors.focus();
}

function fill(p) {
  clearErrors();
  editing = p ? p.name : null;
  form.hidden = false;
  $('pf-h').textContent = p ? `Edit ${p.name}` : 'New profile';
  $('pf-name').value = p ? p.name : '';
  $('pf-name').readOnly = !!p;
  $('pf-segment').value = p ? p.segment_seconds : 4;
  $('pf-sprite').value = p ? p.sprite_interval_seconds : 10;
  $('pf-preset').value = p ? p.x264_preset : 'veryfast';
  $('pf-ladder-mode').value = p ? p.ladder_mode : 'per_title';
  $('pf-target-vmaf').value = p ? p.target_vmaf : 93;
  $('pf-chunking').value = p && p.chunking ? p.chunking : 'auto';
  $('pf-chunk-threshold').value = p && p.chunk_threshold_seconds != null ? p.chunk_threshold_seconds : '';
  $('pf-chunk-seconds').value = p && p.chunk_seconds != null ? p.chunk_seconds : '';
  chunkingChanged();
  $('rungs').tBodies[0].replaceChildren();
  (p ? p.ladder : [{ height: 720, video_kbps: 2800, audio_kbps: 128 }]).forEach(addRung);
  const chosen = p && p.analyzers;
  $('pf-default-analyzers').checked = !chosen;
  form.querySelectorAll('input[name=analyzer]').forEach((c) => { c.checked = !!chosen && chosen.includes(c.value); c.disabled = !chosen; });
  $('pf-labels').value = p && p.zero_shot_labels ? p.zero_shot_labels.join(', ') : '';
  $('pf-name').focus();
}

// "never" takes no chunk settings: the numbers are disabled (and sent as null) while it is chosen.
function chunkingChanged() {
  const never = $('pf-chunking').value === 'never';
  $('pf-chunk-threshold').disabled = never;
  $('pf-chunk-seconds').disabled = never;
}

function collect() {
  const num = (el) => (el.value.trim() === '' ? null : Number(el.value));
  const ladder = [...$('rungs').tBodies[0].rows].map((row) => {
    const [hh, v, a] = row.querySelectorAll('input');
    return { height: num(hh), video_kbps: num(v), audio_kbps: num(a) };
  });
  const labels = $('pf-labels').value.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  return {
    ladder, segment_seconds: num($('pf-segment')), sprite_interval_seconds: num($('pf-sprite')),
    x264_preset: $('pf-preset').value,
    ladder_mode: $('pf-ladder-mode').value, target_vmaf: num($('pf-target-vmaf')),
    chunking: $('pf-chunking').value,
    chunk_threshold_seconds: $('pf-chunk-threshold').disabled ? null : num($('pf-chunk-threshold')),
    chunk_seconds: $('pf-chunk-seconds').disabled ? null : num($('pf-chunk-seconds')),
    analyzers: $('pf-default-analyzers').checked ? null
      : [...form.querySelectorAll('input[name=analyzer]:checked')].map((c) => c.value),
    zero_shot_labels: labels.length ? labels : null,
  };
}

async function load() {
  try {
    const { items } = await api('/v1/profiles');
    const tbody = $('profiles').tBodies[0];
    tbody.replaceChildren(...items.map((p) => h('tr', { 'data-profile': p.name },
      h('td', {}, p.name, p.builtin ? h('span', { class: 'muted', text: ' (built-in)' }) : null),
      h('td', { text: p.ladder.map((r) => `${r.height}p ${r.video_kbps}k`).join(', ') }),
      h('td', { text: `${p.segment_seconds} s` }), h('td', { text: `${p.sprite_interval_seconds} s` }),
      h('td', { text: p.analyzers ? p.analyzers.join(', ') : 'default' }),
      h('td', {}, p.builtin ? h('button', { type: 'button', class: 'secondary', text: 'Copy', 'aria-label': `Copy ${p.name}`,
        onclick: () => { fill({ ...p, name: '' }); editing = null; $('pf-name').readOnly = false; $('pf-h').textContent = `New profile from ${p.name}`; } })
        : [h('button', { type: 'button', text: 'Edit', 'aria-label': `Edit ${p.name}`, onclick: () => fill(p) }), ' ',
          h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete ${p.name}`, onclick: () => remove(p) })]))));
  } catch (e) { say(msg, 'Could not load the profiles: ' + message(e), false); }
}

async function remove(p) {
  // eslint-disable-next-line no-alert
  if (!window.confirm(`Delete profile ${p.name}?`)) return;
  try { await api(`/v1/profiles/${encodeURIComponent(p.name)}`, { method: 'DELETE' }); say(msg, `Deleted ${p.name}.`); }
  catch (e) { say(msg, message(e), false); }
  load();
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  const name = $('pf-name').value.trim();
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(name)) {
    showErrors({ name: 'use 1–32 lower-case letters, digits, - or _ (starting with a letter or digit)' });
    return;
  }
  const body = collect();
  if (!body.ladder.length) { showErrors({ ladder: 'add at least one rung' }); return; }
  try {
    await api(`/v1/profiles/${encodeURIComponent(name)}`, { method: 'PUT', json: body });
    say(msg, `Saved profile ${name}.`);
    form.hidden = true;
    load();
  } catch (e) {
    if (e.fields) showErrors(e.fields, e.message);
    else showErrors({}, message(e));
  }
});

$('pf-name').dataset.field = 'name';
$('pf-segment').dataset.field = 'segment_seconds';
$('pf-sprite').dataset.field = 'sprite_interval_seconds';
$('pf-preset').dataset.field = 'x264_preset';
$('pf-ladder-mode').dataset.field = 'ladder_mode';
$('pf-target-vmaf').dataset.field = 'target_vmaf';
$('pf-chunking').dataset.field = 'chunking';
$('pf-chunk-threshold').dataset.field = 'chunk_threshold_seconds';
$('pf-chunk-seconds').dataset.field = 'chunk_seconds';
$('pf-labels').dataset.field = 'zero_shot_labels';
$('pf-analyzers').dataset.field = 'analyzers';
$('rungs').dataset.field = 'ladder';
errors.tabIndex = -1;
$('pf-default-analyzers').addEventListener('change', (ev) => {
  form.querySelectorAll('input[name=analyzer]').forEach((c) => { c.disabled = ev.target.checked; });
});
$('pf-chunking').addEventListener('change', chunkingChanged);
$('add-rung').addEventListener('click', () => addRung());
$('new-profile').addEventListener('click', () => fill(null));
$('pf-cancel').addEventListener('click', () => { form.hidden = true; clearErrors(); $('new-profile').focus(); });
load();
