// Gapmap dashboard: the little behaviour the server-rendered pages need. No framework, no build.
// Feedback text is only ever put in the page with textContent, never innerHTML.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const page = document.body.dataset.page;
const customer = document.body.dataset.customer;

function say(id, text, isError) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = text;
  el.classList.toggle('error', Boolean(isError));
}

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body instanceof FormData || body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body instanceof FormData ? body : body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok && !(res.status === 400 && data && data.files)) {
    const msg = data && data.error ? data.error.message : `${res.status} ${res.statusText}`;
    throw new Error(msg);
  }
  return data;
}

const cust = () => `/api/customers/${encodeURIComponent(customer)}`;

// ---- map: follow the stored map and redraw it when it changes, without a reload
if (page === 'map') {
  let version = document.body.dataset.version;
  $('[data-action="print"]')?.addEventListener('click', () => window.print());
  const count = $('#review-count');
  const refreshCount = () =>
    count &&
    api('GET', `${cust()}/review-count`)
      .then((r) => (count.textContent = String(r.units)))
      .catch(() => {});
  refreshCount();
  const poll = async () => {
    try {
      const state = await api('GET', `${cust()}/map/state`);
      if (state.version !== version) {
        const res = await fetch(`/customers/${encodeURIComponent(customer)}/map-fragment`, {
          credentials: 'same-origin',
        });
        if (res.ok) {
          // Server-rendered and escaped by the server: the same markup the page was built with.
          $('#map-container').innerHTML = await res.text();
          version = state.version;
          document.body.dataset.version = version;
          const built = state.built_at ? state.built_at.replace('T', ' ').slice(0, 16) + ' UTC' : 'never';
          say('map-built', `${state.units} units · built ${built}`);
          say('map-live', `Map updated ${new Date().toLocaleTimeString()}`);
          refreshCount();
        }
      }
    } catch (err) {
      say('map-live', `Cannot reach the server (${err.message}); retrying…`, true);
    }
    setTimeout(poll, 1500);
  };
  setTimeout(poll, 1500);
}

// ---- evidence: decisions about the entry
if (page === 'evidence') {
  const entry = document.body.dataset.entry;
  for (const btn of $$('[data-entry-action]')) {
    btn.addEventListener('click', async () => {
      const action = btn.dataset.entryAction;
      try {
        if (action === 'rename') {
          const label = prompt('New label for this entry', $('#entry-label').textContent);
          if (!label) return;
          const res = await api('POST', `${cust()}/entries/${encodeURIComponent(entry)}/decide`, {
            action,
            value: label,
          });
          // What the server stored (trimmed), as a reload would show it.
          $('#entry-label').textContent = res.label;
          say('entry-live', 'Renamed.');
        } else if (action === 'split') {
          const refs = $$('.pick:checked').map((c) => c.value);
          if (refs.length === 0)
            return say('entry-live', 'Select the evidence to split off first (the boxes on the left).', true);
          const label = prompt(`Label for the new entry of ${refs.length} units`);
          if (!label) return;
          await api('POST', `${cust()}/entries/${encodeURIComponent(entry)}/split`, { refs, label });
          say('entry-live', 'Split. Back to the map…');
          location.href = `/customers/${encodeURIComponent(customer)}`;
        } else {
          await api('POST', `${cust()}/entries/${encodeURIComponent(entry)}/decide`, { action });
          say('entry-live', action === 'accept' ? 'Accepted.' : 'Rejected: it is off the map.');
        }
      } catch (err) {
        say('entry-live', err.message, true);
      }
    });
  }
}

// ---- review queue
if (page === 'review') {
  const items = () => $$('#queue > li.qitem');
  let current = items()[0] || null;
  const select = (li) => {
    for (const x of items()) x.classList.toggle('current', x === li);
    current = li;
    if (!li) return;
    li.focus({ preventScroll: true });
    li.scrollIntoView({ block: 'nearest' });
  };
  const logDecision = (text) => {
    const li = document.createElement('li');
    li.textContent = text;
    $('#decisions').prepend(li);
  };
  // The tags this page shows for a unit: accept confirms these, and the server refuses it if they changed meanwhile.
  const field = (li, name) => $(`select[data-field="${name}"]`, li);
  const shown = (li) => ({
    job: field(li, 'set_job').value || null,
    kind: field(li, 'set_kind').value,
    sentiment: field(li, 'set_sentiment').value,
  });
  for (const li of items()) for (const sel of $$('select[data-field]', li)) sel.dataset.stored = sel.value;

  // One decision per unit on its way. Keys pressed for a unit whose decision is still on its way
  // wait for it and are sent in the order pressed (a lead typing `f` `-` means both); the unit leaves
  // the queue, the count goes down by one and the selection moves on once its last decision is in.
  // After a failure the keys still waiting for that unit are dropped: they were pressed for a state
  // the server did not take.
  const inFlight = new Map(); // li -> { tail, waiting, stored, failed }
  const send = async (li, run, action, value, expected) => {
    const ref = li.dataset.ref;
    try {
      const res = await api(
        'POST',
        `${cust()}/units/decide`,
        action === 'accept'
          ? { ref, action, expected }
          : value === undefined
            ? { ref, action }
            : { ref, action, value },
      );
      run.stored++;
      if (res && res.learning) $('#learning').textContent = res.learning.note;
      logDecision(`you: ${action} ${ref}${value !== undefined ? ` → ${value}` : ''}`);
      say(
        'review-live',
        `${action === 'accept' ? 'Accepted' : action === 'reject' ? 'Rejected' : 'Changed'} ${ref}. The map is being rebuilt.`,
      );
    } catch (err) {
      run.failed = true;
      const dropped = run.waiting - 1;
      say(
        'review-live',
        `${err.message}${dropped ? ` (${dropped} later key${dropped === 1 ? '' : 's'} for ${ref} not sent)` : ''}`,
        true,
      );
    }
  };
  const settle = (li, run) => {
    inFlight.delete(li);
    li.classList.remove('busy');
    li.removeAttribute('aria-busy');
    if (run.stored === 0) {
      // Nothing was stored: the unit stays, showing its tags as they are on the server.
      for (const sel of $$('select[data-field]', li)) sel.value = sel.dataset.stored;
      return;
    }
    const next = li.nextElementSibling || li.previousElementSibling;
    const wasCurrent = current === li;
    li.remove();
    const total = $('#queue-total');
    total.textContent = String(Math.max(0, Number(total.textContent) - 1));
    if (wasCurrent) select(next && next.classList.contains('qitem') ? next : items()[0] || null);
  };
  const decide = (li, action, value) => {
    if (!li || !li.isConnected) return;
    // Show the choice at once: a later accept confirms what the page shows, waiting changes included.
    if (action.startsWith('set_')) field(li, action).value = value === null ? '' : value;
    const expected = action === 'accept' ? shown(li) : undefined;
    let run = inFlight.get(li);
    if (!run) {
      run = { tail: Promise.resolve(), waiting: 0, stored: 0, failed: false };
      inFlight.set(li, run);
      li.classList.add('busy');
      li.setAttribute('aria-busy', 'true');
    }
    run.waiting++;
    run.tail = run.tail
      .then(() => (run.failed ? undefined : send(li, run, action, value, expected)))
      .finally(() => {
        run.waiting--;
        if (run.waiting === 0) settle(li, run);
      });
  };
  for (const li of items()) {
    li.addEventListener('click', (e) => {
      if (e.target.closest('select,button')) return;
      select(li);
    });
    for (const btn of $$('[data-unit-action]', li))
      btn.addEventListener('click', () => decide(li, btn.dataset.unitAction));
    for (const sel of $$('select[data-field]', li))
      sel.addEventListener('change', () =>
        decide(li, sel.dataset.field, sel.dataset.field === 'set_job' && sel.value === '' ? null : sel.value),
      );
  }
  const KIND_KEYS = { t: 'touchpoint', h: 'high_point', f: 'friction', g: 'value_gap', o: 'other' };
  const SENT_KEYS = { '-': 'negative', '=': 'neutral', '+': 'positive' };
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest('input,select,textarea')) return;
    const list = items();
    const i = current ? list.indexOf(current) : -1;
    if (e.key === 'j' || e.key === 'ArrowDown') select(list[Math.min(list.length - 1, i + 1)] || null);
    else if (e.key === 'k' || e.key === 'ArrowUp') select(list[Math.max(0, i - 1)] || null);
    else if (e.key === 'a') decide(current, 'accept');
    else if (e.key === 'x') decide(current, 'reject');
    else if (KIND_KEYS[e.key]) decide(current, 'set_kind', KIND_KEYS[e.key]);
    else if (SENT_KEYS[e.key]) decide(current, 'set_sentiment', SENT_KEYS[e.key]);
    else if (/^[0-9]$/.test(e.key) && current) {
      const opts = $$('select[data-field="set_job"] option', current);
      const opt = opts[Number(e.key)];
      if (opt) decide(current, 'set_job', opt.value === '' ? null : opt.value);
    } else return;
    e.preventDefault();
  });

  for (const li of $$('#entry-queue > li')) {
    const entry = li.dataset.entry;
    for (const btn of $$('[data-entry-action]', li)) {
      btn.addEventListener('click', async () => {
        const action = btn.dataset.entryAction;
        try {
          if (action === 'rename') {
            const label = prompt('New label', $('a', li).textContent);
            if (!label) return;
            const res = await api('POST', `${cust()}/entries/${encodeURIComponent(entry)}/decide`, {
              action,
              value: label,
            });
            $('a', li).textContent = res.label;
          } else {
            await api('POST', `${cust()}/entries/${encodeURIComponent(entry)}/decide`, { action });
            li.remove();
          }
          logDecision(`you: ${action} entry ${entry}`);
          say(
            'review-live',
            `Entry ${action === 'accept' ? 'accepted' : action === 'reject' ? 'rejected' : 'renamed'}. The map is being rebuilt.`,
          );
        } catch (err) {
          say('review-live', err.message, true);
        }
      });
    }
  }
  $('#merge-button')?.addEventListener('click', async () => {
    const entries = $$('.merge-pick:checked').map((c) => c.value);
    if (entries.length < 2) return say('review-live', 'Select two or more entries to merge.', true);
    const label = prompt('Label for the merged entry');
    if (label === null) return;
    try {
      await api('POST', `${cust()}/entries/merge`, { entries, label: label || undefined });
      for (const k of entries) $(`#entry-queue > li[data-entry="${CSS.escape(k)}"]`)?.remove();
      say('review-live', `Merged ${entries.length} entries.`);
    } catch (err) {
      say('review-live', err.message, true);
    }
  });
}

// ---- jobs
if (page === 'jobs') {
  for (const form of $$('form[data-job-form]')) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      const body = { statement: f.get('statement'), desired_outcome: f.get('desired_outcome') || '' };
      try {
        if (form.dataset.jobForm === 'add')
          await api('POST', `${cust()}/jobs`, { key: f.get('key'), ...body });
        else await api('PUT', `${cust()}/jobs/${encodeURIComponent(f.get('key'))}`, body);
        location.reload();
      } catch (err) {
        say('jobs-live', err.message, true);
      }
    });
  }
}

// ---- imports: drop files, pick speakers, upload, follow the runs
if (page === 'imports') {
  const chosen = [];
  const list = $('#upload-files');
  const button = $('#upload-button');

  /**
   * Speaker names from a transcript's text: WebVTT voice tags, or "Name:" at the start of a line
   * ("Speaker 1", "P2" and "Sam Ito (Guest)" too, as meeting tools write them).
   */
  const speakersOf = (text) => {
    const names = new Map();
    const add = (n) => {
      n = n.trim();
      if (n && n.length < 60) names.set(n, (names.get(n) || 0) + 1);
    };
    for (const m of text.matchAll(/<v(?:\.[\w.-]+)?\s+([^>]+)>/g)) add(m[1]);
    if (names.size === 0)
      for (const m of text.matchAll(
        /^(?:\[[\d:.,]+\]\s*)?(\p{Lu}[\p{L}\p{M}\d'’.-]*(?:[ \t]+[\p{L}\p{M}\d'’.()-]+){0,4}):[ \t]+\S/gmu,
      ))
        add(m[1]);
    // In order of first words: the interviewer usually opens.
    return [...names.keys()];
  };

  const render = () => {
    list.replaceChildren();
    for (const c of chosen) {
      const li = document.createElement('li');
      const head = document.createElement('div');
      head.className = 'fname';
      head.textContent = `${c.file.name} (${Math.ceil(c.file.size / 1024)} KB)`;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'link';
      remove.textContent = 'remove';
      remove.addEventListener('click', () => {
        chosen.splice(chosen.indexOf(c), 1);
        render();
      });
      head.append(' ', remove);
      li.append(head);
      if (c.speakers.length) {
        const box = document.createElement('fieldset');
        box.className = 'speakers';
        const legend = document.createElement('legend');
        legend.textContent = 'Which speakers are the customer?';
        box.append(legend);
        for (const s of c.speakers) {
          const label = document.createElement('label');
          const cb = document.createElement('input');
          cb.type = 'checkbox';
          cb.checked = c.picked.has(s);
          cb.addEventListener('change', () => (cb.checked ? c.picked.add(s) : c.picked.delete(s)));
          label.append(cb, ' ', s);
          box.append(label);
        }
        li.append(box);
      } else if (/\.docx$/i.test(c.file.name)) {
        const label = document.createElement('label');
        label.className = 'small';
        label.textContent = 'Customer speakers if this is a transcript (comma-separated; empty for notes): ';
        const input = document.createElement('input');
        input.addEventListener(
          'input',
          () =>
            (c.picked = new Set(
              input.value
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean),
            )),
        );
        label.append(input);
        li.append(label);
      }
      list.append(li);
    }
    button.disabled = chosen.length === 0;
  };

  const addFiles = async (files) => {
    for (const file of files) {
      let speakers = [];
      if (/\.(vtt|srt|txt)$/i.test(file.name) && file.size < 20 * 1024 * 1024)
        speakers = speakersOf(await file.text());
      // Interviewers usually ask first: preselect everyone but the first speaker.
      chosen.push({ file, speakers, picked: new Set(speakers.length > 1 ? speakers.slice(1) : speakers) });
    }
    render();
  };

  const drop = $('#drop');
  if (drop) {
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      addFiles([...e.dataTransfer.files]);
    });
    $('#file-input').addEventListener('change', (e) => addFiles([...e.target.files]));
  }

  $('#upload-form')?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fd = new FormData();
    const speakers = {};
    for (const c of chosen) {
      fd.append('files', c.file, c.file.name);
      if (c.picked.size) speakers[c.file.name] = [...c.picked];
    }
    fd.append('customer', $('#upload-customer').value);
    fd.append('speakers', JSON.stringify(speakers));
    button.disabled = true;
    const out = $('#upload-result');
    out.replaceChildren();
    try {
      const res = await api('POST', '/api/imports', fd);
      for (const f of res.files) {
        const p = document.createElement('p');
        p.className = f.status === 'accepted' ? 'ok' : 'error';
        p.textContent =
          f.status === 'accepted' ? `${f.file}: accepted (run ${f.run_id}, ${f.format})` : f.message;
        out.append(p);
      }
      chosen.splice(
        0,
        chosen.length,
        ...chosen.filter((c) => res.files.some((f) => f.file === c.file.name && f.status === 'refused')),
      );
      render();
      refresh();
    } catch (err) {
      const p = document.createElement('p');
      p.className = 'error';
      p.textContent = err.message;
      out.append(p);
      button.disabled = false;
    }
  });

  const cell = (text, cls, tag = 'td') => {
    const td = document.createElement(tag);
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };
  const progressText = (r) => {
    const p = r.progress;
    if (p && p.phase !== 'done') {
      if (p.phase === 'reading') return `reading: ${p.itemsRead} items`;
      if (p.phase === 'classifying' || p.phase === 'mapping')
        return p.phase === 'mapping' && p.classified >= p.toClassify
          ? 'building the map…'
          : `classifying: ${p.classified} of ${p.toClassify} units`;
      if (p.phase === 'failed') return `failed: ${p.error}`;
      return p.phase;
    }
    return r.status === 'done' ? 'done' : r.status;
  };
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    let runs;
    try {
      runs = await api('GET', '/api/imports?limit=30');
    } catch (err) {
      say('runs', err.message, true);
      timer = setTimeout(refresh, 3000);
      return;
    }
    const table = document.createElement('table');
    table.className = 'list runs';
    const thead = document.createElement('thead');
    const hr = document.createElement('tr');
    for (const h of [
      'Run',
      'What',
      'Status',
      'Items new / changed / same',
      'Units new / changed / removed',
      'Errors',
      'Started',
    ])
      hr.append(cell(h, '', 'th'));
    thead.append(hr);
    table.append(thead);
    const tbody = document.createElement('tbody');
    for (const r of runs) {
      const tr = document.createElement('tr');
      tr.dataset.run = String(r.id);
      tr.dataset.status =
        r.progress && r.progress.phase !== 'done' && r.progress.phase !== 'failed' ? 'running' : r.status;
      const k = r.counts;
      tr.append(
        cell(`#${r.id}`),
        cell(r.source.replace(/^upload:/, '')),
        cell(progressText(r), `status ${tr.dataset.status}`),
        cell(`${k.items_new} / ${k.items_updated} / ${k.items_unchanged}`, 'num'),
        cell(`${k.units_new} / ${k.units_updated} / ${k.units_removed}`, 'num'),
        cell(String(k.errors + (r.error ? 1 : 0)), 'num'),
        cell(r.started_at.replace('T', ' ').slice(0, 16)),
      );
      tbody.append(tr);
      if (r.error || r.errors.length) {
        const er = document.createElement('tr');
        er.className = 'errors';
        const td = document.createElement('td');
        td.colSpan = 7;
        const ul = document.createElement('ul');
        if (r.error) {
          const li = document.createElement('li');
          li.textContent = r.error;
          ul.append(li);
        }
        for (const e of r.errors) {
          const li = document.createElement('li');
          li.textContent = `${e.file}${e.line ? `, line ${e.line}` : ''}${e.field ? ` (${e.field})` : ''}: ${e.message}`;
          ul.append(li);
        }
        td.append(ul);
        er.append(td);
        tbody.append(er);
      }
    }
    table.append(tbody);
    $('#runs').replaceChildren(
      runs.length
        ? table
        : Object.assign(document.createElement('p'), { textContent: 'No imports yet.', className: 'muted' }),
    );
    const active = runs.some(
      (r) =>
        r.status === 'queued' ||
        r.status === 'running' ||
        (r.progress && !['done', 'failed'].includes(r.progress.phase)),
    );
    timer = setTimeout(refresh, active ? 1000 : 5000);
  };
  refresh();
}

// ---- people
if (page === 'people') {
  $('#user-form')?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await api('POST', '/api/users', Object.fromEntries(f));
      location.reload();
    } catch (err) {
      say('people-live', err.message, true);
    }
  });
  $('#token-form')?.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const res = await api('POST', '/api/tokens', {
        user_id: Number(f.get('user_id')),
        name: f.get('name'),
      });
      const out = $('#token-secret');
      out.hidden = false;
      out.textContent = `New token (shown once, copy it now): ${res.token}`;
    } catch (err) {
      say('people-live', err.message, true);
    }
  });
  for (const btn of $$('[data-revoke]'))
    btn.addEventListener('click', async () => {
      await api('DELETE', `/api/tokens/${btn.dataset.revoke}`);
      location.reload();
    });
}
