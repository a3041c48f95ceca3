// The pages' one script. No framework and no build step: each page names
// itself in <body data-page>, and the part below that page's name runs.
//
// Rules this file keeps (README, "Pages"):
// - the access token lives in this module's memory only; the refresh token
//   is an HttpOnly cookie the script never sees (login and refresh set it
//   when asked with `X-Refresh-Cookie: 1`);
// - whatever a user or the API typed goes in with textContent, never as
//   HTML;
// - every URL is relative, so the pages work under an API base path.
'use strict';

const $ = (id) => document.getElementById(id);

/** The access token: memory only, gone with the page. */
let access = null;

/** One API call: JSON in and out, never cached. */
async function call(method, path, body, extra = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (extra.auth && access) headers.Authorization = 'Bearer ' + access;
  if (extra.cookie) headers['X-Refresh-Cookie'] = '1';
  Object.assign(headers, extra.headers || {});
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    return { status: 0, ok: false, data: { detail: 'The service cannot be reached. Try again in a moment.' } };
  }
  let data = null;
  if ((response.headers.get('content-type') || '').includes('json')) {
    data = await response.json().catch(() => null);
  }
  return { status: response.status, ok: response.ok, data, headers: response.headers };
}

/** A new access token from the refresh cookie; false when there is no session. */
async function refresh() {
  let r = await call('POST', 'auth/refresh', {}, { cookie: true });
  if (r.status === 401) {
    // Another tab may have just spent the same cookie (a token works once);
    // its answer set the next one, which this second try sends.
    await new Promise((resolve) => setTimeout(resolve, 300));
    r = await call('POST', 'auth/refresh', {}, { cookie: true });
  }
  access = r.ok && r.data ? r.data.access_token : null;
  return access !== null;
}

/** A call as the signed-in user: one refresh on a 401, then the sign-in page. */
async function authed(method, path, body, headers) {
  if (access === null && !(await refresh())) return signedOut();
  let r = await call(method, path, body, { auth: true, headers });
  if (r.status === 401 || r.status === 403) {
    if (!(await refresh())) return signedOut();
    r = await call(method, path, body, { auth: true, headers });
    if (r.status === 401) return signedOut();
  }
  return r;
}

/** The session is over (signed out elsewhere, deactivated, expired). */
function signedOut() {
  access = null;
  window.location.assign('login?signed-out=1');
  return new Promise(() => {});
}

/** The token a mailed link carries in its fragment, which never reaches a server. */
function linkToken() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get('token');
  // Out of the address bar and the history entry once read.
  if (token) history.replaceState(null, '', window.location.pathname + window.location.search);
  return token;
}

// ---- forms -----------------------------------------------------------------

/** Clears a form's messages. */
function clearErrors(form) {
  for (const el of form.querySelectorAll('.error, .form-error')) {
    el.textContent = '';
    el.hidden = true;
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** Shows a problem: each field's message beside its input, the rest above the button. */
function showProblem(form, r, formErrorId) {
  const problem = r.data || {};
  let shown = false;
  for (const e of problem.errors || []) {
    const input = form.querySelector(`[name="${CSS.escape(e.field)}"]`);
    // The input's own message slot: the `.error` among what describes it.
    const slot = input && (input.getAttribute('aria-describedby') || '').split(' ')
      .map((id) => document.getElementById(id))
      .find((el) => el && el.classList.contains('error'));
    if (input && slot) {
      slot.textContent = e.message;
      slot.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      if (!shown) input.focus();
      shown = true;
    }
  }
  if (!shown) {
    const slot = $(formErrorId || 'form-error');
    slot.textContent = messageOf(r);
    slot.hidden = false;
    slot.focus && slot.setAttribute('tabindex', '-1');
  }
}

function messageOf(r) {
  const problem = r.data || {};
  if (problem.errors && problem.errors.length) {
    return problem.errors.map((e) => `${e.field} ${e.message}`).join('; ');
  }
  if (r.status === 429) return (problem.detail || 'Too many attempts.') + ' Try again later.';
  return problem.detail || problem.message || `Something went wrong (${r.status}).`;
}

/** The named inputs of a form that are not inside a hidden part. */
function values(form) {
  const out = {};
  for (const input of form.querySelectorAll('input[name], select[name]')) {
    if (input.type === 'radio' || input.closest('[hidden]')) continue;
    out[input.name] = input.value;
  }
  return out;
}

/** Runs `submit` on a form's submit, with the button held while it runs. */
function onSubmit(form, submit) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    clearErrors(form);
    button.disabled = true;
    try {
      await submit(values(form));
    } finally {
      button.disabled = false;
    }
  });
}

/** Shows a section that replaces the form, and moves focus to its heading. */
function done(form, sectionId) {
  form.hidden = true;
  const section = $(sectionId || 'done');
  section.hidden = false;
  const heading = section.querySelector('h2');
  if (heading) heading.focus();
}

/** The password rules, checked as the user types (length here; strength on submit). */
function livePasswordRules() {
  for (const input of document.querySelectorAll('input[data-rules]')) {
    const rules = document.getElementById(input.id + '-rules');
    const length = rules.querySelector('[data-rule="length"]');
    const count = rules.querySelector('[data-count]');
    const update = () => {
      const n = [...input.value].length;
      count.textContent = `(${n} so far)`;
      length.classList.toggle('met', n >= 8 && n <= 128);
      length.classList.toggle('unmet', n > 0 && (n < 8 || n > 128));
    };
    input.addEventListener('input', update);
    update();
  }
}

// ---- pages -----------------------------------------------------------------

const pages = {
  async admin() {
    const me = await authed('GET', 'users/me');
    $('loading').hidden = true;
    if (!me.ok || me.data.role !== 'admin') return void ($('not-admin').hidden = false);
    $('console').hidden = false;
    onSubmit($('search-form'), () => admin.users(false));
    $('users-more').addEventListener('click', () => admin.users(true));
    $('audit-more').addEventListener('click', () => admin.audit(true));
    onSubmit($('role-form'), async (v) => {
      const r = await admin.act('PATCH', `admin/users/${encodeURIComponent(admin.current.id)}`, { role: v.role }, 'Role saved.');
      if (r.ok) await admin.open(admin.current.id);
    });
    $('u-deactivate').addEventListener('click', async () => {
      const r = await admin.act('POST', `admin/users/${encodeURIComponent(admin.current.id)}/deactivate`, undefined,
        'Deactivated: every session of the account is over.');
      if (r.ok) await admin.open(admin.current.id);
    });
    $('u-activate').addEventListener('click', async () => {
      const r = await admin.act('POST', `admin/users/${encodeURIComponent(admin.current.id)}/activate`, undefined, 'Activated.');
      if (r.ok) await admin.open(admin.current.id);
    });
    onSubmit($('remove-form'), async () => {
      if (!$('remove-sure').checked) {
        return void showProblem($('remove-form'), { data: { detail: 'Tick the box to confirm.' } }, 'remove-form-error');
      }
      const r = await admin.act('DELETE', `admin/users/${encodeURIComponent(admin.current.id)}`, undefined, 'Deleted.');
      if (r.ok) $('user').hidden = true;
    });
    $('redrive').addEventListener('click', async () => {
      const r = await authed('POST', 'admin/events/redrive');
      $('events-status').textContent = r.ok ? `${r.data.moved} sent back to the queue.` : messageOf(r);
      await admin.deadLetters();
    });
    $('purge').addEventListener('click', async () => {
      const r = await authed('DELETE', 'admin/posts/cache');
      $('posts-status').textContent = r.ok ? 'Purged: the next request fetches the feed.' : messageOf(r);
    });
    await Promise.all([admin.users(false), admin.audit(false), admin.deadLetters()]);
  },

  index() {
    if (new URLSearchParams(window.location.search).has('deleted')) {
      $('notice').textContent = 'Your account is deleted, and everything of it is being removed.';
      $('notice').hidden = false;
    }
  },

  signup() {
    const form = $('form');
    onSubmit(form, async (v) => {
      const body = { email: v.email, password: v.password };
      if (v.name.trim()) body.name = v.name.trim();
      const r = await call('POST', 'auth/signup', body);
      if (r.ok) {
        $('done-email').textContent = v.email;
        done(form);
      } else showProblem(form, r);
    });
  },

  login() {
    const form = $('form');
    if (new URLSearchParams(window.location.search).has('signed-out')) {
      const slot = $('form-error');
      slot.textContent = 'You were signed out. Sign in again.';
      slot.hidden = false;
    }
    onSubmit(form, async (v) => {
      const r = await call('POST', 'auth/login', { email: v.email, password: v.password }, { cookie: true });
      if (r.ok) window.location.assign('account');
      else showProblem(form, r);
    });
  },

  'forgot-password'() {
    const form = $('form');
    onSubmit(form, async (v) => {
      const r = await call('POST', 'auth/password-reset', { email: v.email }, { cookie: true });
      if (r.ok) done(form);
      else showProblem(form, r);
    });
  },

  'reset-password'() {
    tokenForm('auth/password-reset/confirm', (token, v) => ({ token, new_password: v.new_password }));
  },

  'verify-email'() {
    const form = $('form');
    for (const radio of form.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener('change', () => {
        const fresh = form.querySelector('input[name="mode"]:checked').value === 'new_password';
        $('current-field').hidden = fresh;
        $('new-field').hidden = !fresh;
      });
    }
    tokenForm('auth/verify-email', (token, v) =>
      'new_password' in v ? { token, new_password: v.new_password } : { token, password: v.password });
  },

  'confirm-email'() {
    tokenForm('auth/email-change/confirm', (token, v) => ({ token, password: v.password }));
  },

  'revert-email'() {
    tokenForm('auth/email-change/revert', (token, v) => ({ token, new_password: v.new_password }));
  },

  'sign-in'() {
    const form = $('form');
    const token = linkToken();
    if (!token) return void ($('missing').hidden = false);
    form.hidden = false;
    onSubmit(form, async () => {
      const r = await call('POST', 'auth/login/link', { token }, { cookie: true });
      if (r.ok) window.location.assign('account');
      else showProblem(form, r);
    });
  },

  async account() {
    let etag = null;
    const show = (user, tag) => {
      $('p-email').textContent = user.email;
      $('p-verified').textContent = user.email_verified ? 'yes' : 'not yet';
      $('p-role').textContent = user.role;
      $('admin-link').hidden = user.role !== 'admin';
      $('name').value = user.name || '';
      $('surname').value = user.surname || '';
      etag = tag;
    };
    const load = async () => {
      const r = await authed('GET', 'users/me');
      if (!r.ok) throw new Error(messageOf(r));
      show(r.data, r.headers.get('ETag'));
    };
    await load();
    $('loading').hidden = true;
    $('signed-in').hidden = false;
    await sessions();

    const profile = $('profile-form');
    onSubmit(profile, async (v) => {
      $('profile-status').textContent = '';
      const body = { name: v.name.trim() || null, surname: v.surname.trim() || null };
      const r = await authed('PATCH', 'users/me', body, etag ? { 'If-Match': etag } : {});
      if (r.ok) {
        show(r.data, r.headers.get('ETag'));
        $('profile-status').textContent = 'Saved.';
      } else if (r.status === 412) {
        await load();
        showProblem(profile, { status: 412, data: { detail: 'Your profile was changed elsewhere meanwhile: this is the newer one. Edit it again.' } }, 'profile-form-error');
      } else showProblem(profile, r, 'profile-form-error');
    });

    const password = $('password-form');
    onSubmit(password, async (v) => {
      $('password-status').textContent = '';
      const r = await authed('POST', 'auth/password', v);
      if (r.ok) {
        password.reset();
        $('password-status').textContent = 'Changed. Every other session is signed out.';
        await sessions();
      } else showProblem(password, r, 'password-form-error');
    });

    avatar();
    pdf();

    const address = $('email-form');
    onSubmit(address, async (v) => {
      $('email-status').textContent = '';
      const r = await authed('POST', 'users/me/email', { new_email: v.new_email, password: v.password });
      if (r.ok) {
        address.reset();
        $('email-status').textContent = `We mailed a link to ${v.new_email}. Your address changes when you open it.`;
      } else showProblem(address, r, 'email-form-error');
    });

    $('export').addEventListener('click', async () => {
      const r = await authed('GET', 'users/me/export');
      if (!r.ok) return void ($('export-status').textContent = messageOf(r));
      const file = new Blob([JSON.stringify(r.data, null, 2)], { type: 'application/json' });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(file);
      a.download = 'my-data.json';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      $('export-status').textContent = 'Downloaded my-data.json.';
    });

    const removal = $('delete-form');
    onSubmit(removal, async (v) => {
      if (!$('delete-sure').checked) {
        showProblem(removal, { status: 0, data: { detail: 'Tick the box to confirm.' } }, 'delete-form-error');
        return;
      }
      const r = await authed('DELETE', 'users/me', { password: v.password });
      if (r.ok) {
        access = null;
        window.location.assign('./?deleted=1');
      } else showProblem(removal, r, 'delete-form-error');
    });

    $('logout').addEventListener('click', async () => {
      await authed('POST', 'auth/logout', undefined, { 'X-Refresh-Cookie': '1' });
      access = null;
      window.location.assign('login');
    });
    $('logout-all').addEventListener('click', async () => {
      await authed('POST', 'auth/logout-all', undefined, { 'X-Refresh-Cookie': '1' });
      access = null;
      window.location.assign('login');
    });
  },
};

/** One line of an audit log, as text. */
function auditLine(entry) {
  const item = document.createElement('li');
  const when = new Date(entry.at).toLocaleString();
  const who = entry.actor_id ? ` by ${entry.actor_id}` : '';
  const about = entry.user_id && entry.user_id !== entry.actor_id ? ` about ${entry.user_id}` : '';
  item.textContent = `${when}: ${entry.action}${who}${about}${entry.ip ? ` from ${entry.ip}` : ''}`;
  return item;
}

/** The console's parts, once the caller is known to be an admin. */
const admin = {
  cursor: null,
  query: '',

  async users(more) {
    const params = new URLSearchParams({ limit: '20' });
    const form = $('search-form');
    const v = values(form);
    if (v.q.trim()) params.set('q', v.q.trim());
    const active = $('active').value;
    if (active) params.set('active', active);
    if (more && admin.cursor) params.set('cursor', admin.cursor);
    const r = await authed('GET', `admin/users?${params}`);
    if (!r.ok) return void showProblem(form, r, 'search-form-error');
    const body = $('users').tBodies[0];
    if (!more) body.replaceChildren();
    for (const user of r.data.items) {
      const row = body.insertRow();
      for (const text of [user.email, [user.name, user.surname].filter(Boolean).join(' '), user.role,
        user.active ? 'active' : 'deactivated']) {
        row.insertCell().textContent = text;
      }
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'secondary';
      open.textContent = 'Open';
      open.setAttribute('aria-label', `Open ${user.email}`);
      open.addEventListener('click', () => admin.open(user.id));
      row.insertCell().append(open);
    }
    $('users-empty').hidden = body.rows.length > 0;
    admin.cursor = r.data.next_cursor || null;
    $('users-more').hidden = !admin.cursor;
  },

  async open(id) {
    const r = await authed('GET', `admin/users/${encodeURIComponent(id)}`);
    if (!r.ok) return void ($('user-status').textContent = messageOf(r));
    const user = r.data;
    admin.current = user;
    $('user').hidden = false;
    $('user-heading').textContent = user.email;
    $('u-email').textContent = user.email;
    $('u-name').textContent = [user.name, user.surname].filter(Boolean).join(' ') || '—';
    $('u-verified').textContent = user.email_verified ? 'yes' : 'not yet';
    $('u-state').textContent = user.active ? 'active' : 'deactivated';
    $('u-created').textContent = new Date(user.created_at).toLocaleString();
    $('role').value = user.role;
    $('u-deactivate').hidden = !user.active;
    $('u-activate').hidden = user.active;
    $('remove-sure').checked = false;
    const trail = await authed('GET', `admin/audit?user_id=${encodeURIComponent(id)}&limit=20`);
    $('user-audit').replaceChildren(...((trail.ok && trail.data.items) || []).map(auditLine));
    $('user-heading').focus();
  },

  async act(method, path, body, done) {
    const r = await authed(method, path, body);
    $('user-status').textContent = r.ok ? done : messageOf(r);
    if (r.ok) {
      await admin.users(false);
      await admin.audit(false);
    }
    return r;
  },

  async audit(more) {
    const params = new URLSearchParams({ limit: '20' });
    if (more && admin.auditCursor) params.set('cursor', admin.auditCursor);
    const r = await authed('GET', `admin/audit?${params}`);
    if (!r.ok) return;
    const list = $('audit');
    if (!more) list.replaceChildren();
    list.append(...r.data.items.map(auditLine));
    admin.auditCursor = r.data.next_cursor || null;
    $('audit-more').hidden = !admin.auditCursor;
  },

  async deadLetters() {
    const r = await authed('GET', 'admin/events/dead-letters');
    $('dead-letters').textContent = r.ok ? String(r.data.count) : messageOf(r);
  },
};

/** The picture: shown when there is one; uploaded through a presigned PUT with progress. */
async function avatar() {
  const show = async () => {
    const r = await authed('GET', 'users/me/avatar');
    const data = r.ok ? r.data : null;
    const img = $('avatar-img');
    if (data && data.thumbnail_url) {
      img.src = data.thumbnail_url;
      img.hidden = false;
    } else img.hidden = true;
    $('avatar-none').hidden = !img.hidden;
    $('avatar-delete').hidden = img.hidden;
    return data;
  };
  await show();
  const form = $('avatar-form');
  const progress = $('avatar-progress');
  const status = $('avatar-status');
  onSubmit(form, async () => {
    status.textContent = '';
    const file = $('file').files[0];
    if (!file) {
      showProblem(form, { data: { errors: [{ field: 'file', message: 'choose an image first' }] } });
      return;
    }
    const ask = await authed('POST', 'users/me/avatar/upload-url', {
      content_type: file.type || 'application/octet-stream',
      content_length: file.size,
    });
    if (!ask.ok) {
      // The API names its own fields; the person chose a file.
      const problem = ask.data || {};
      const words = (problem.errors || []).map((e) => e.message).join('; ') || messageOf(ask);
      showProblem(form, { data: { errors: [{ field: 'file', message: words }] } });
      return;
    }
    progress.value = 0;
    progress.hidden = false;
    // XMLHttpRequest, because fetch reports no upload progress.
    const sent = await new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(ask.data.method, ask.data.url);
      for (const [name, value] of Object.entries(ask.data.headers)) {
        if (name.toLowerCase() !== 'content-length') xhr.setRequestHeader(name, value);
      }
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; };
      xhr.onload = () => resolve(xhr.status >= 200 && xhr.status < 300);
      xhr.onerror = () => resolve(false);
      xhr.send(file);
    });
    if (!sent) {
      progress.hidden = true;
      showProblem(form, { data: { detail: 'The upload did not go through. Try again.' } }, 'avatar-form-error');
      return;
    }
    progress.value = 100;
    status.textContent = 'Uploaded; processing…';
    for (let i = 0; i < 40; i++) {
      const data = await show();
      if (data && data.status === 'ready') {
        status.textContent = 'Your new picture is in place.';
        break;
      }
      if (data && data.status === 'rejected') {
        showProblem(form, { data: { errors: [{ field: 'file', message: data.reason || 'was refused' }] } });
        status.textContent = '';
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    progress.hidden = true;
    form.reset();
  });
  $('avatar-delete').addEventListener('click', async () => {
    const r = await authed('DELETE', 'users/me/avatar');
    status.textContent = r.ok ? 'Picture removed.' : messageOf(r);
    await show();
  });
}

/** The profile PDF: made (or reused when current) and offered as a download link. */
async function pdf() {
  const link = $('pdf-link');
  const status = $('pdf-status');
  const offer = (data) => {
    link.href = data.url;
    link.hidden = false;
  };
  const existing = await authed('GET', 'users/me/pdf');
  if (existing.ok && existing.data.current) offer(existing.data);
  $('pdf-make').addEventListener('click', async () => {
    status.textContent = 'Making the PDF…';
    const r = await authed('POST', 'users/me/pdf', {});
    if (r.ok) {
      offer(r.data);
      status.textContent = r.data.generated ? 'Your PDF is ready.' : 'Your PDF is up to date.';
      link.focus();
    } else status.textContent = messageOf(r);
  });
}

/** The sessions list, each with a button that ends it (not the current one). */
async function sessions() {
  const r = await authed('GET', 'auth/sessions');
  const list = $('sessions');
  list.replaceChildren();
  for (const s of (r.data && r.data.items) || []) {
    if (!s.active) continue;
    const item = document.createElement('li');
    const text = document.createElement('span');
    const where = [s.user_agent || 'an unknown browser', s.ip ? `from ${s.ip}` : ''].join(' ').trim();
    text.textContent = `${where}, since ${new Date(s.created_at).toLocaleString()}`;
    item.append(text);
    if (s.current) {
      const mark = document.createElement('strong');
      mark.textContent = ' (this one)';
      item.append(mark);
    } else {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary';
      button.textContent = 'Sign it out';
      button.setAttribute('aria-label', `Sign it out: ${where}`);
      button.addEventListener('click', async () => {
        const done = await authed('DELETE', `auth/sessions/${encodeURIComponent(s.id)}`);
        $('sessions-status').textContent = done.ok ? 'Signed out.' : messageOf(done);
        await sessions();
      });
      item.append(' ', button);
    }
    list.append(item);
  }
}

/** A page that posts a mailed link's token with what the user types. */
function tokenForm(path, bodyOf) {
  const form = $('form');
  const token = linkToken();
  if (!token) return void ($('missing').hidden = false);
  form.hidden = false;
  onSubmit(form, async (v) => {
    const r = await call('POST', path, bodyOf(token, v));
    if (r.ok) done(form);
    else showProblem(form, r);
  });
}

document.addEventListener('DOMContentLoaded', () => {
  livePasswordRules();
  const page = pages[document.body.dataset.page];
  if (page) {
    Promise.resolve(page()).catch((e) => {
      const slot = $('loading') || $('form-error');
      if (slot) {
        slot.textContent = e.message;
        slot.hidden = false;
      }
    });
  }
});
