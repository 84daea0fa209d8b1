// Sign in through POST /session (JSON here; the plain form post works without JavaScript); the server sets the
// HttpOnly session cookie.
const form = document.getElementById('signin-form');
const err = document.getElementById('signin-error');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  err.hidden = true;
  const data = new FormData(form);
  const next = data.get('next') || '/';
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const r = await fetch('/session', { method: 'POST', credentials: 'same-origin',
      body: JSON.stringify({ api_key: data.get('api_key'), next }),
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' } });
    if (r.ok) {
      location.assign(next.startsWith('/') && !next.startsWith('//') ? next : '/');
      return;
    }
    let text = r.status === 401 ? 'That API key is not valid (or has been revoked).' : `Sign-in failed (${r.status}).`;
    try { const body = await r.json(); if (body.error && body.error.message) text = body.error.message; } catch { /* keep */ }
    err.textContent = text;
  } catch {
    err.textContent = 'The server cannot be reached. Check your connection and try again.';
  } finally {
    button.disabled = false;
  }
  err.hidden = false;
  document.getElementById('api_key').focus();
});
