// Small DOM helpers: elements are built with h(), never from HTML strings, so job data is always text.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function time(value) {
  if (!value) return '';
  const d = new Date(value);
  return d.toLocaleString(undefined, { hour12: false });
}

export function duration(from, to) {
  if (!from) return '';
  const ms = (to ? new Date(to) : new Date()) - new Date(from);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** The one word a job's colour is chosen by: its state until it stops, then its status (skipped apart). */
export function look(job) {
  if (job.state !== 'stopped') return job.state;
  if (job.reason === 'skipped') return 'skipped';
  return job.status === 'good' ? 'good' : 'error';
}

export function badge(job) {
  const word = job.state === 'stopped' ? `${job.status}${job.reason ? ` · ${job.reason}` : ''}` : job.state;
  return h('span', { class: `badge s-${look(job)}`, 'data-state': job.state, 'data-status': job.status }, word);
}

export function jobLink(id) {
  return h('a', { href: `/jobs/${id}` }, `#${id}`);
}

export function table(columns, rows, rowAttrs) {
  return h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {}, columns.map((c) => h('td', { class: c.class }, c.cell(r)))))));
}

export function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e));
}

export function section(title, ...content) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...content);
}

/** Runs an action from a button, showing its failure next to it rather than losing it. */
export async function act(button, fn) {
  button.disabled = true;
  const old = button.parentElement?.querySelector('.error');
  if (old) old.remove();
  try {
    await fn();
  } catch (e) {
    button.after(errorBox(e));
  } finally {
    button.disabled = false;
  }
}

export const STATES = ['queued', 'placed', 'running', 'stopped'];
export const STATUSES = ['unknown', 'good', 'error'];
export const REASONS = ['exit_code', 'timed_out', 'killed', 'cancelled', 'node_lost', 'node_restarted', 'placement_failed',
  'retries_exhausted', 'dependency_failed', 'skipped', 'children_failed'];
