// psqlqueue dashboard: reads the sidecar's samples (GET /ui/api/overview, answered from the
// sidecar's memory) every few seconds and draws them; changes go through the v1 API with the
// same token. Hand-written, no framework, no build step: the sidecar embeds this file.
'use strict';
(() => {
  // The token lives in sessionStorage: it is gone when the tab closes and other tabs or
  // sites never see it; the page sends it as a bearer token and nowhere else.
  const TOKEN_KEY = 'psqlqueue.token';
  const WINDOW_MS = 3600 * 1000;
  const $ = (id) => document.getElementById(id);
  const state = {
    auth: null, scopes: null, overview: null, seq: -1, timer: null, filter: '',
    detail: null, peeks: {}, rendered: false, renderMs: null,
  };
  window.psqlqueueStats = state;

  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  // Thousands separators by hand: toLocaleString is slow enough to matter over 1,000 rows.
  const fmt = (n) => (n == null ? '–' : n < 1000 ? String(n) : String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ','));
  const rate = (n) => (n == null ? '–' : n < 10 ? n.toFixed(1) : fmt(Math.round(n)));
  const path = (id) => encodeURIComponent(id);
  function age(s) {
    if (!s) return '–';
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.floor(s / 60) + ' min';
    if (s < 172800) return Math.floor(s / 3600) + ' h';
    return Math.floor(s / 86400) + ' d';
  }

  // --- the API ---------------------------------------------------------------------------
  async function api(method, url, body) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(url, {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
    if (!response.ok) {
      const error = new Error((json && (json.details || json.message)) || response.statusText);
      error.status = response.status;
      throw error;
    }
    return json;
  }

  // What the token may do, as auth.rs decides it: `admin`, or ACTION:NAME / ACTION:*. Without
  // auth (no scopes) everything is allowed. Hiding is a courtesy: the API refuses anyway.
  function may(action, name) {
    if (!state.scopes) return true;
    return state.scopes.some((s) => s === 'admin' || s === action + ':*' || s === action + ':' + name);
  }
  function mayAny(action) {
    if (!state.scopes) return true;
    return state.scopes.some((s) => s === 'admin' || s.startsWith(action + ':'));
  }

  // --- start, sign in, refresh -----------------------------------------------------------
  async function start() {
    let session;
    // Both at once: the first overview must not wait a round trip for the session.
    const overview = api('GET', '/ui/api/overview');
    overview.catch(() => {});
    try {
      session = await api('GET', '/ui/api/session');
    } catch (e) {
      if (e.status === 401) {
        const had = sessionStorage.getItem(TOKEN_KEY);
        sessionStorage.removeItem(TOKEN_KEY);
        return showLogin(had ? 'That token was refused: it is unknown or revoked.' : null);
      }
      setStatus('cannot reach the sidecar: ' + e.message, true);
      state.timer = setTimeout(start, 5000);
      return;
    }
    state.auth = session.auth;
    state.scopes = session.scopes || null;
    $('login').hidden = true;
    $('dashboard').hidden = false;
    $('signout').hidden = state.auth !== 'token';
    $('new-queue').hidden = !mayAny('manage');
    state.seq = -1;
    await refresh(overview);
  }

  function showLogin(message) {
    clearTimeout(state.timer);
    $('dashboard').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    $('login-error').hidden = !message;
    $('login-error').textContent = message || '';
    setStatus('sign in to see the queues', false);
    $('token').focus();
  }

  // Draws the overview (`first`, the one start() asked for, or a new one) and schedules the
  // next; a hidden tab asks for nothing.
  async function refresh(first) {
    clearTimeout(state.timer);
    let next = 3000;
    try {
      if (first || document.visibilityState !== 'hidden' || !state.overview) {
        const o = await (first || api('GET', '/ui/api/overview'));
        if (!state.rendered) performance.mark('psqlqueue:fetched');
        state.overview = o;
        next = Math.min(Math.max(o.sample_seconds || 5, 2), 5) * 1000;
        if (o.seq !== state.seq) {
          state.seq = o.seq;
          const began = performance.now();
          render(o);
          state.renderMs = performance.now() - began;
        }
        showSampleStatus(o);
        if (!state.rendered) firstRender();
      }
    } catch (e) {
      if (e.status === 401) return showLogin('Your token is no longer accepted.');
      setStatus('cannot reach the sidecar: ' + e.message, true);
    }
    state.timer = setTimeout(() => refresh(), next);
  }

  // Marks for the browser tests: rendered (the DOM is built) and painted (a frame later).
  function firstRender() {
    state.rendered = true;
    performance.mark('psqlqueue:rendered');
    requestAnimationFrame(() => setTimeout(() => {
      performance.mark('psqlqueue:painted');
      document.body.dataset.ready = '1';
    }, 0));
  }

  function setStatus(text, bad) {
    $('status').textContent = text;
    $('status').classList.toggle('stale', !!bad);
  }

  function showSampleStatus(o) {
    if (!o.sample_seconds) return setStatus('sampler off (PSQLQUEUE_UI_SAMPLE_SECONDS=0)', true);
    if (o.error) return setStatus('sampling failed: ' + o.error, true);
    if (!o.sampled_at_ms) return setStatus('waiting for the first sample…', false);
    const ago = Math.max(0, Math.round((o.now_ms - o.sampled_at_ms) / 1000));
    setStatus('sampled ' + ago + ' s ago · every ' + o.sample_seconds + ' s', ago > 3 * o.sample_seconds + 5);
  }

  // --- rendering ---------------------------------------------------------------------------
  function render(o) {
    const queues = o.queues;
    const totals = { deliverable: 0, in_flight: 0, delayed: 0, dead_lettered: 0 };
    for (const q of queues) for (const k in totals) totals[k] += q[k];
    $('total-queues').textContent = fmt(queues.length);
    $('total-deliverable').textContent = fmt(totals.deliverable);
    $('total-in-flight').textContent = fmt(totals.in_flight);
    $('total-delayed').textContent = fmt(totals.delayed);
    $('total-dead-lettered').textContent = fmt(totals.dead_lettered);
    const t = o.throughput;
    for (const id of ['card-sends', 'card-acks', 'throughput-section']) $(id).hidden = !t;
    if (t) {
      $('rate-sends').textContent = rate(t.sends_per_second);
      $('rate-acks').textContent = rate(t.acks_per_second);
      $('throughput-chart').innerHTML = chart($('throughput-chart'), t.times_ms, [
        { name: 'sends/s', cls: 'sends', values: t.sends },
        { name: 'acks/s', cls: 'acks', values: t.acks },
      ], o.now_ms);
    }
    const notice = !o.sample_seconds
      ? 'The dashboard sampler is off (PSQLQUEUE_UI_SAMPLE_SECONDS=0): there are no numbers to show.'
      : o.complete ? '' : 'This token sees only the queues and topics its scopes name.';
    $('notice').hidden = !notice;
    $('notice').textContent = notice;
    renderQueues();
    renderDeadLetters(o);
    renderTopics(o);
    if (state.detail) renderDetail();
  }

  function renderQueues() {
    const o = state.overview;
    if (!o) return;
    const filter = state.filter.toLowerCase();
    const rows = [];
    for (const q of o.queues) {
      if (filter && !q.id.toLowerCase().includes(filter)) continue;
      const id = esc(q.id);
      const dlq = q.dead_letter_queue_id
        ? '<span class="tag" title="dead letters go to ' + esc(q.dead_letter_queue_id) + '">→ '
          + esc(q.dead_letter_queue_id) + '</span>'
        : '';
      // A link, not a button, and no per-row controls (purge is in the queue's detail): a
      // thousand rows of form controls take twice as long to lay out.
      rows.push('<tr data-id="' + id + '"><td class="name"><a class="qid" href="#" data-open="'
        + id + '">' + id + '</a>' + dlq + '</td>'
        + cell('deliverable', 'Deliverable', fmt(q.deliverable))
        + cell('in_flight', 'In flight', fmt(q.in_flight))
        + cell('delayed', 'Delayed', fmt(q.delayed))
        + cell('dead_lettered', 'Dead-lettered', fmt(q.dead_lettered), q.dead_lettered > 0 ? 'dead-nonzero' : '')
        + cell('oldest_age_seconds', 'Oldest', age(q.oldest_age_seconds))
        + '<td class="spark">' + spark(q.spark) + '</td></tr>');
    }
    $('queue-rows').innerHTML = rows.join('');
    $('queues-empty').hidden = rows.length > 0;
    $('queues-empty').textContent = o.queues.length ? 'No queue matches the filter.' : 'No queues.';
  }

  function cell(key, label, text, extra) {
    return '<td class="num ' + (extra || '') + '" data-k="' + key + '" data-label="' + label + '">' + text + '</td>';
  }

  // A queue's depth over its history (the last hour at most): up to 30 points, oldest first,
  // across the whole width.
  function spark(values) {
    const w = 120, h = 24;
    const points = values && values.length ? values : [0];
    const max = Math.max(1, ...points);
    const step = points.length > 1 ? w / (points.length - 1) : w;
    const ys = points.map((v) => (h - 2 - (v / max) * (h - 4)).toFixed(1));
    // One point is drawn as a level line: the depth so far.
    if (ys.length === 1) ys.push(ys[0]);
    const coords = ys.map((y, i) => (i * step).toFixed(1) + ',' + y).join(' ');
    return '<svg class="spark" viewBox="0 0 ' + w + ' ' + h + '" role="img" aria-label="depth, last hour; now '
      + fmt(points[points.length - 1]) + '"><polyline points="' + coords + '"/></svg>';
  }

  // A line chart of the last hour (or of the time since the first point, a minute at least,
  // so a young history is not squeezed into a corner), as wide as its container.
  function chart(container, times, series, nowMs) {
    // From the first point with a value (a throughput needs two samples to have one).
    const first = times.findIndex((_, i) => series.some((s) => s.values[i] != null));
    const span = Math.min(WINDOW_MS, Math.max(60000, first >= 0 ? nowMs - times[first] : 0));
    const w = Math.max(260, Math.round(container.clientWidth || 600)), h = 180;
    const left = 44, right = 8, top = 10, bottom = 22;
    const pw = w - left - right, ph = h - top - bottom;
    let max = 0;
    for (const s of series) for (const v of s.values) if (v != null && v > max) max = v;
    const top_ = niceCeiling(max);
    const x = (t) => left + ((t - (nowMs - span)) / span) * pw;
    const y = (v) => top + ph - (v / top_) * ph;
    const parts = [];
    for (const frac of [0, 0.5, 1]) {
      const yy = y(top_ * frac).toFixed(1);
      parts.push('<line class="axis" x1="' + left + '" x2="' + (w - right) + '" y1="' + yy + '" y2="' + yy + '"/>');
      parts.push('<text x="' + (left - 6) + '" y="' + yy + '" text-anchor="end" dominant-baseline="middle">'
        + shortNumber(top_ * frac) + '</text>');
    }
    for (const [fraction, anchor] of [[1, 'start'], [0.5, 'middle'], [0, 'end']]) {
      const seconds = Math.round((span * fraction) / 1000);
      const label = !fraction ? 'now' : seconds < 120 ? '−' + seconds + ' s' : '−' + Math.round(seconds / 60) + ' min';
      parts.push('<text x="' + x(nowMs - span * fraction).toFixed(1) + '" y="' + (h - 6) + '" text-anchor="' + anchor + '">'
        + label + '</text>');
    }
    for (const s of series) {
      let line = [];
      const flush = () => {
        if (line.length === 1) line.unshift([line[0][0] - 2, line[0][1]]);
        if (line.length) parts.push('<polyline class="s-' + s.cls + '" points="' + line.map((p) => p.join(',')).join(' ') + '"/>');
        line = [];
      };
      s.values.forEach((v, i) => {
        if (v == null || times[i] < nowMs - span) return flush();
        line.push([x(times[i]).toFixed(1), y(v).toFixed(1)]);
      });
      flush();
    }
    const legend = series.map((s) => '<span><i class="l-' + s.cls + '"></i>' + esc(s.name) + '</span>').join('');
    return '<svg viewBox="0 0 ' + w + ' ' + h + '" role="img" aria-label="' + esc(series.map((s) => s.name).join(', '))
      + ', last hour">' + parts.join('') + '</svg><div class="legend">' + legend + '</div>';
  }

  function niceCeiling(v) {
    if (v <= 1) return 1;
    const magnitude = Math.pow(10, Math.floor(Math.log10(v)));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= v) return step * magnitude;
    return 10 * magnitude;
  }

  function shortNumber(v) {
    if (v >= 1e6) return +(v / 1e6).toFixed(1) + 'M';
    if (v >= 1e4) return +(v / 1e3).toFixed(1) + 'k';
    return +v.toFixed(v < 10 ? 1 : 0) + '';
  }

  // Dead-letter queues: those some queue sends its dead letters to, and any holding some.
  function renderDeadLetters(o) {
    const sources = {};
    for (const q of o.queues) {
      if (q.dead_letter_queue_id) (sources[q.dead_letter_queue_id] = sources[q.dead_letter_queue_id] || []).push(q.id);
    }
    const cards = [];
    for (const q of o.queues) {
      if (!sources[q.id] && !(q.dead_lettered > 0)) continue;
      const id = esc(q.id);
      const from = sources[q.id] ? 'dead letters of ' + sources[q.id].map(esc).join(', ')
        : o.complete ? 'no queue sends its dead letters here now' : 'its source queues are not visible to this token';
      const canPeek = may('consume', q.id) || may('manage', q.id);
      const peek = state.peeks[q.id];
      const buttons = (canPeek ? '<button class="small quiet" type="button" data-peek="' + id + '">'
        + (peek ? 'Hide' : 'Peek') + '</button>' : '')
        + (may('manage', q.id) ? '<button class="small" type="button" data-redrive="' + id + '"'
          + (q.dead_lettered > 0 ? '' : ' disabled') + '>Redrive</button>' : '');
      cards.push('<div class="dlq" data-dlq="' + id + '"><div class="dlq-head"><strong>' + id + '</strong>'
        + '<span><span data-k="dead_lettered" class="' + (q.dead_lettered > 0 ? 'dead-nonzero' : '') + '">'
        + fmt(q.dead_lettered) + '</span> dead-lettered · ' + fmt(q.deliverable + q.in_flight + q.delayed) + ' in all</span>'
        + buttons + '</div><div class="sources">' + from + '</div>' + (peek ? renderPeek(peek) : '') + '</div>');
    }
    $('dlqs').innerHTML = cards.join('');
    $('dlqs-empty').hidden = cards.length > 0;
  }

  function renderPeek(peek) {
    if (peek.loading) return '<div class="peek muted">loading…</div>';
    if (peek.error) return '<div class="peek error">' + esc(peek.error) + '</div>';
    if (!peek.available) {
      return '<div class="peek muted">Peek unavailable (' + esc(peek.reason || '') + '): the counts above are all this sidecar can show.</div>';
    }
    if (!peek.messages.length) return '<div class="peek muted">No live messages.</div>';
    return '<div class="peek">' + peek.messages.map((m) => {
      const attributes = Object.keys(m.attributes || {}).length ? ' · attributes ' + esc(JSON.stringify(m.attributes)) : '';
      const cut = new TextEncoder().encode(m.body).length < m.body_bytes ? ' … (cut)' : '';
      return '<div class="msg"><div class="meta mono">' + esc(m.id) + (m.source_queue_id ? ' · from ' + esc(m.source_queue_id) : '')
        + ' · ' + m.delivery_attempts + ' attempts · ' + esc(new Date(m.created_at).toLocaleString())
        + (m.label ? ' · label ' + esc(m.label) : '') + attributes + '</div><pre>' + esc(m.body) + esc(cut) + '</pre></div>';
    }).join('') + '</div>';
  }

  function renderTopics(o) {
    const html = o.topics.map((t) => {
      const subs = t.subscriptions;
      const list = !subs ? '<li class="muted">subscriptions need manage:* to list</li>'
        : !subs.length ? '<li class="muted">no subscriptions</li>'
          : subs.map((s) => '<li><span class="mono">' + esc(s.id) + '</span> → <strong>' + esc(s.queue_id) + '</strong> '
            + (s.message_filters ? '<code>' + esc(JSON.stringify(s.message_filters)) + '</code>' : '<span class="muted">every message</span>')
            + '</li>').join('');
      return '<div class="topic" data-topic="' + esc(t.id) + '"><strong>' + esc(t.id) + '</strong><ul>' + list + '</ul></div>';
    });
    $('topics').innerHTML = html.join('');
    $('topics-empty').hidden = html.length > 0;
  }

  // --- a queue's detail: its counts and its chart --------------------------------------------
  async function openDetail(id) {
    state.detail = { id, history: null };
    $('detail-title').textContent = id;
    $('detail').showModal();
    renderDetail();
  }

  async function renderDetail() {
    const detail = state.detail;
    const q = state.overview && state.overview.queues.find((x) => x.id === detail.id);
    const counts = q ? [['Deliverable', fmt(q.deliverable)], ['In flight', fmt(q.in_flight)], ['Delayed', fmt(q.delayed)],
      ['Dead-lettered', fmt(q.dead_lettered)], ['Oldest', age(q.oldest_age_seconds)]] : [];
    $('detail-counts').innerHTML = counts.map((c) => '<div><dt>' + c[0] + '</dt><dd>' + c[1] + '</dd></div>').join('')
      || '<div class="muted">This queue is gone.</div>';
    const settings = q && q.dead_letter_queue_id
      ? 'Dead letters go to ' + esc(q.dead_letter_queue_id) + ' after ' + fmt(q.max_delivery_attempts) + ' attempts.' : '';
    $('detail-actions').innerHTML = '<span class="muted">' + settings + '</span>' + (q && may('manage', q.id)
      ? '<button class="danger" type="button" data-purge="' + esc(q.id) + '">Purge…</button>' : '');
    try {
      const h = await api('GET', '/ui/api/queues/' + path(detail.id) + '/history');
      if (state.detail !== detail) return;
      $('detail-chart').innerHTML = chart($('detail-chart'), h.times_ms, [
        { name: 'deliverable', cls: 'deliverable', values: h.deliverable },
        { name: 'in flight', cls: 'in-flight', values: h.in_flight },
        { name: 'delayed', cls: 'delayed', values: h.delayed },
      ], state.overview.now_ms);
    } catch (e) {
      $('detail-chart').textContent = 'history unavailable: ' + e.message;
    }
  }

  // --- actions, each behind a confirmation -----------------------------------------------------
  function confirmAction(title, text, label) {
    return new Promise((resolve) => {
      const dialog = $('confirm');
      $('confirm-title').textContent = title;
      $('confirm-text').textContent = text;
      $('confirm-ok').textContent = label;
      let answered = false;
      const answer = (yes) => {
        if (answered) return;
        answered = true;
        if (dialog.open) dialog.close();
        resolve(yes);
      };
      $('confirm-ok').onclick = () => answer(true);
      $('confirm-cancel').onclick = () => answer(false);
      dialog.onclose = () => answer(false);
      dialog.showModal();
      $('confirm-cancel').focus();
    });
  }

  function toast(text, bad) {
    const el = $('toast');
    el.textContent = text;
    el.classList.toggle('bad', !!bad);
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
  }

  async function purge(id) {
    const q = state.overview.queues.find((x) => x.id === id) || {};
    const ok = await confirmAction('Purge ' + id + '?', 'Deletes every message of ' + id + ' (' + fmt(q.deliverable)
      + ' deliverable, ' + fmt(q.in_flight) + ' in flight, ' + fmt(q.delayed) + ' delayed). This cannot be undone.', 'Purge');
    if (!ok) return;
    try {
      await api('PUT', '/v1/queues/' + path(id) + '/purge');
      toast('Purged ' + id + '. The counts update with the next sample.');
    } catch (e) {
      toast('Purge failed: ' + e.message, true);
    }
  }

  async function redrive(id) {
    const q = state.overview.queues.find((x) => x.id === id) || {};
    const ok = await confirmAction('Redrive ' + id + '?', 'Moves up to 1,000 of its ' + fmt(q.dead_lettered)
      + ' dead-lettered messages back to the queues they came from, deliverable at once.', 'Redrive');
    if (!ok) return;
    try {
      const r = await api('PUT', '/v1/queues/' + path(id) + '/redrive');
      toast('Moved ' + fmt(r.moved) + ' message' + (r.moved === 1 ? '' : 's') + ' out of ' + id + '.');
      delete state.peeks[id];
    } catch (e) {
      toast('Redrive failed: ' + e.message, true);
    }
  }

  async function togglePeek(id) {
    if (state.peeks[id]) {
      delete state.peeks[id];
    } else {
      state.peeks[id] = { loading: true };
      renderDeadLetters(state.overview);
      try {
        state.peeks[id] = await api('GET', '/ui/api/queues/' + path(id) + '/peek?limit=10');
      } catch (e) {
        state.peeks[id] = { error: 'Peek failed: ' + e.message };
      }
    }
    renderDeadLetters(state.overview);
  }

  function openCreate() {
    const form = $('create-form');
    form.reset();
    $('create-error').hidden = true;
    const select = form.elements.dead_letter_queue_id;
    select.innerHTML = '<option value="">none</option>' + state.overview.queues
      .map((q) => '<option>' + esc(q.id) + '</option>').join('');
    $('create').showModal();
    form.elements.id.focus();
  }

  async function submitCreate(event) {
    event.preventDefault();
    const form = $('create-form');
    if (!form.reportValidity()) return;
    const f = form.elements;
    const body = {
      id: f.id.value.trim(),
      ack_deadline_seconds: Number(f.ack_deadline_seconds.value),
      message_retention_seconds: Number(f.message_retention_seconds.value),
      delivery_delay_seconds: Number(f.delivery_delay_seconds.value),
    };
    let summary = 'ack deadline ' + body.ack_deadline_seconds + ' s, retention ' + body.message_retention_seconds + ' s';
    if (f.dead_letter_queue_id.value) {
      body.dead_letter_queue_id = f.dead_letter_queue_id.value;
      body.max_delivery_attempts = Number(f.max_delivery_attempts.value);
      summary += ', dead letters to ' + body.dead_letter_queue_id + ' after ' + body.max_delivery_attempts + ' attempts';
    }
    $('create').close();
    const ok = await confirmAction('Create ' + body.id + '?', 'A new queue: ' + summary + '.', 'Create');
    if (!ok) return $('create').showModal();
    try {
      await api('POST', '/v1/queues', body);
      toast('Created ' + body.id + '. It appears with the next sample.');
    } catch (e) {
      $('create-error').textContent = e.message;
      $('create-error').hidden = false;
      $('create').showModal();
    }
  }

  // --- wiring ---------------------------------------------------------------------------------
  document.addEventListener('click', (event) => {
    const target = event.target.closest('button, a[data-open]');
    if (!target) return;
    if (target.tagName === 'A') event.preventDefault();
    const d = target.dataset;
    if (d.open !== undefined) openDetail(d.open);
    else if (d.purge !== undefined) purge(d.purge);
    else if (d.redrive !== undefined) redrive(d.redrive);
    else if (d.peek !== undefined) togglePeek(d.peek);
    else if (d.close !== undefined) target.closest('dialog').close();
  });
  $('detail').addEventListener('close', () => { state.detail = null; });
  $('new-queue').addEventListener('click', openCreate);
  $('create-form').addEventListener('submit', submitCreate);
  $('filter').addEventListener('input', (e) => { state.filter = e.target.value; renderQueues(); });
  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    start();
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.overview = null;
    showLogin(null);
  });
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (state.overview) render(state.overview); }, 200);
  });
  start();
})();
