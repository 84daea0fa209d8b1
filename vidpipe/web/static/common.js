import { api, message, toast } from './api.js';

const out = document.getElementById('signout');
if (out) {
  out.addEventListener('click', async () => {
    try {
      await api('/session', { method: 'DELETE' });
    } catch (e) {
      if (e.status !== 401) { toast(message(e)); return; }
    }
    location.assign('/signin');
  });
}
