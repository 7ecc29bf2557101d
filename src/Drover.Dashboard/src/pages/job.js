import { api, headers, may } from '../api.js';
import { ansiWriter } from '../ansi.js';
import { followEvents, throttle } from '../events.js';
import { h, badge, jobLink, time, duration, act, errorBox, section, table } from '../ui.js';

const LOG_PAGE = 256 * 1024;

function commandText(c) {
  if (c.shell !== undefined) return `sh -c ${quote(c.shell)}`;
  return (c.exec || c.command || []).map(quote).join(' ');
}

function quote(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export async function job(view, [id], { signal }) {
  const head = h('div', { class: 'head' });
  const body = h('div', { class: 'cards' });
  const logCard = logView(id, signal);
  view.append(head, body, logCard.el);

  async function refresh() {
    const record = await api(`/scheduler/jobs/${id}`, { signal });
    if (signal.aborted) return;
    const actions = h('span', { class: 'actions' });
    if (may.submit()) {
      if (record.state !== 'stopped') {
        const kill = h('button', { id: 'kill', class: 'danger', onclick: () => act(kill, async () => { await api(`/scheduler/jobs/${id}/kill`, { method: 'POST' }); await refresh(); }) }, 'Kill');
        actions.append(kill, ' ');
      }
      if (record.state === 'stopped' && record.status === 'error') {
        const retry = h('button', { id: 'retry', onclick: () => act(retry, async () => { await api(`/scheduler/jobs/${id}/retry`, { method: 'POST' }); await refresh(); }) }, 'Retry');
        actions.append(retry, ' ');
      }
      const update = h('button', { id: 'update', onclick: () => act(update, async () => { await api(`/scheduler/jobs/${id}/update`, { method: 'POST' }); await refresh(); }) }, 'Ask the node');
      actions.append(update);
    }
    head.replaceChildren(h('h1', {}, `Job #${record.id} `, h('span', { id: 'job-state' }, badge(record))),
      h('p', {}, h('a', { href: `/dags/${record.root ?? record.id}` }, 'Show its DAG'), ' ', actions));
    const spec = record.spec;
    const env = Object.entries(spec.environment || {});
    const envTable = h('table', { class: 'grid env' }, h('tbody', {}, env.map(([k, v]) => {
      const value = h('td', { class: 'mono secret', dataset: { value: v } }, '••••••');
      return h('tr', {}, h('td', { class: 'mono' }, k), value);
    })));
    const reveal = h('button', { class: 'link', onclick: () => {
      const shown = reveal.textContent === 'Hide values';
      for (const td of envTable.querySelectorAll('td.secret')) td.textContent = shown ? '••••••' : td.dataset.value;
      reveal.textContent = shown ? 'Show values' : 'Hide values';
    } }, 'Show values');
    const dependency = (d) => h('li', {}, jobLink(d.job), ' ', h('span', { class: `edge e-${d.condition}` }, d.condition));
    body.replaceChildren(
      section('Record', h('dl', { class: 'facts' },
        fact('request id', record.request_id), fact('node', record.node), fact('exit code', record.exit_code),
        fact('reason', record.reason), fact('priority', record.priority), fact('attempts', `${record.attempts.length} of at most ${record.max_attempts}`),
        fact('submitted', time(record.created_at)), fact('finished', time(record.finished_at)),
        fact('waits for', record.queue_reason), fact('timeout', spec.timeout_seconds ? `${spec.timeout_seconds} s` : null),
        fact('constraints', spec.constraints ? JSON.stringify(spec.constraints) : null))),
      section('Commands', h('ol', { class: 'commands' }, spec.commands.map((c) => h('li', {}, h('code', {}, commandText(c)))))),
      section('Environment', env.length ? [envTable, reveal] : h('p', { class: 'muted' }, 'None.'),
        spec.files?.length ? [h('h3', {}, 'Files'), h('ul', {}, spec.files.map((f) => h('li', { class: 'mono' }, f)))] : null),
      section('Relations', !record.parent && !record.children.length && !record.depends_on.length && !record.dependents.length
        ? h('p', { class: 'muted' }, 'No parent, children or dependencies.') : null, h('dl', { class: 'facts' },
        fact('parent', record.parent ? jobLink(record.parent) : null),
        fact('children', record.children.length ? h('span', { id: 'children' }, record.children.map((c) => [jobLink(c), ' '])) : null),
        fact('depends on', record.depends_on.length ? h('ul', {}, record.depends_on.map(dependency)) : null),
        fact('dependents', record.dependents.length ? h('ul', {}, record.dependents.map(dependency)) : null),
        fact('waits for its children', record.wait_for_children || record.awaiting_children ? 'yes' : null))),
      section('Attempts', attempts(record.attempts)));
    logCard.jobChanged(record);
  }

  await refresh();
  followEvents(`job=${id}`, throttle(() => refresh().catch(() => {}), 700), signal);
}

function fact(name, value) {
  if (value === null || value === undefined || value === '') return null;
  return [h('dt', {}, name), h('dd', {}, value instanceof Node ? value : String(value))];
}

function attempts(list) {
  if (!list.length) return h('p', { class: 'muted' }, 'Not placed yet.');
  const start = Math.min(...list.map((a) => new Date(a.placed_at)));
  const end = Math.max(...list.map((a) => new Date(a.finished_at || Date.now())));
  const span = Math.max(1, end - start);
  const timeline = h('div', { class: 'timeline' }, list.map((a) => {
    const from = new Date(a.placed_at) - start;
    const running = a.started_at ? new Date(a.started_at) - start : null;
    const to = new Date(a.finished_at || Date.now()) - start;
    const track = h('div', { class: 'track' });
    const wait = h('span', { class: 'placed', title: `placed ${time(a.placed_at)}` });
    wait.style.left = `${(100 * from) / span}%`;
    wait.style.width = `${Math.max(0.5, (100 * ((running ?? to) - from)) / span)}%`;
    track.append(wait);
    if (running !== null) {
      const run = h('span', { class: `run s-${a.state === 'stopped' ? (a.status === 'good' ? 'good' : 'error') : 'running'}`, title: `started ${time(a.started_at)}` });
      run.style.left = `${(100 * running) / span}%`;
      run.style.width = `${Math.max(0.5, (100 * (to - running)) / span)}%`;
      track.append(run);
    }
    return h('div', { class: 'lane' }, h('span', { class: 'lane-name' }, `#${a.number} ${a.node}`), track);
  }));
  return [timeline, table([
    { title: '#', cell: (a) => String(a.number) },
    { title: 'node', cell: (a) => a.node },
    { title: 'ended', cell: (a) => badge(a) },
    { title: 'placed', cell: (a) => time(a.placed_at) },
    { title: 'started', cell: (a) => time(a.started_at) },
    { title: 'finished', cell: (a) => time(a.finished_at) },
    { title: 'ran', cell: (a) => duration(a.started_at, a.finished_at) },
    { title: 'exit code', cell: (a) => a.exit_code ?? '' },
    { title: 'message', cell: (a) => a.message ?? '' },
  ], list)];
}

/** The log: read a page at a time; with follow on, streamed as it is written until the job stops. */
function logView(id, signal) {
  const pre = h('pre', { class: 'log', id: 'log' });
  const more = h('button', { id: 'log-more', hidden: true, onclick: () => read(false) }, 'Load more');
  const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
  const note = h('span', { class: 'muted' });
  const el = section('Log', h('p', {}, h('label', {}, follow, ' follow'), ' ', note), pre, more);
  let offset = 0, reading = null, state = null;
  const write = ansiWriter(pre);
  const decoder = new TextDecoder();

  async function read(streaming) {
    if (reading) return;
    reading = new AbortController();
    signal.addEventListener('abort', () => reading?.abort(), { once: true });
    more.hidden = true;
    try {
      const response = await fetch(`/scheduler/jobs/${id}/log?offset=${offset}${streaming ? '&follow=true' : ''}`, { headers: headers(), signal: reading.signal });
      if (!response.ok) {
        note.textContent = `log: ${response.status}`;
        return;
      }
      const reader = response.body.getReader();
      let got = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        offset += value.length;
        got += value.length;
        write(decoder.decode(value, { stream: true }));
        if (streaming) pre.scrollTop = pre.scrollHeight;
        if (!streaming && got >= LOG_PAGE) {
          reader.cancel();
          more.hidden = false;
          note.textContent = `${offset.toLocaleString()} bytes shown; more follow`;
          return;
        }
      }
      note.textContent = `${offset.toLocaleString()} bytes`;
    } catch (e) {
      if (!signal.aborted && e.name !== 'AbortError') note.textContent = e.message;
    } finally {
      reading = null;
    }
  }

  follow.addEventListener('change', () => {
    if (follow.checked && state !== 'stopped') read(true);
    else reading?.abort();
  });

  return {
    el,
    jobChanged(record) {
      const before = state;
      state = record.state;
      if (before === null) read(follow.checked && record.state !== 'stopped');
      else if (!reading && record.state === 'stopped' && before !== 'stopped') read(false);
      else if (!reading && follow.checked && record.state === 'running') read(true);
    },
  };
}
