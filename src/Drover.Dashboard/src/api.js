// The one way the dashboard calls the gateway: same origin, the key (if any) as a bearer header.
// The key lives in sessionStorage: it is gone when the tab closes, and it is never sent by the browser on its own,
// so no other site can make a request carry it (no cookie, hence no cross-site request forgery to defend against).
const KEY = 'drover.key';

export const auth = { key: sessionStorage.getItem(KEY), session: null };

export function setKey(key) {
  auth.key = key || null;
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(describe(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

function describe(status, problem) {
  if (problem && typeof problem === 'object') {
    const errors = problem.errors ? Object.entries(problem.errors).map(([k, v]) => `${k}: ${[].concat(v).join(' ')}`) : [];
    return [`${status} ${problem.title || ''}`.trim(), problem.detail, ...errors].filter(Boolean).join(' — ');
  }
  return `${status} ${problem || ''}`.trim();
}

export function headers(extra) {
  const h = new Headers(extra);
  if (auth.key) h.set('Authorization', `Bearer ${auth.key}`);
  return h;
}

/** Calls the API; JSON bodies for plain objects, FormData as multipart; throws ApiError (problem+json) when not ok. */
export async function api(path, { method = 'GET', body, signal, accept } = {}) {
  const h = headers(accept ? { Accept: accept } : undefined);
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && typeof body !== 'string') {
    h.set('Content-Type', 'application/json');
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers: h, body: payload, signal });
  const type = response.headers.get('content-type') || '';
  const text = await response.text();
  const data = text && type.includes('json') ? JSON.parse(text) : text;
  if (response.status === 401 && path !== '/dashboard/session') window.dispatchEvent(new CustomEvent('drover:signin'));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function loadSession() {
  try {
    auth.session = await api('/dashboard/session');
  } catch (e) {
    if (e.status === 401) auth.session = null;
    else throw e;
  }
  return auth.session;
}

const role = () => auth.session?.role;
export const may = {
  submit: () => role() === 'submit' || role() === 'admin',
  admin: () => role() === 'admin',
};
