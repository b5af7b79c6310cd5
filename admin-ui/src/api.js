// The admin API client: every call carries the admin token; errors become ApiError with a readable message
// and, for validation errors, the message of each field.

const TOKEN_KEY = 'palaver.admin.token';

export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function saveToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, message, fields) {
    super(message);
    this.status = status;
    this.fields = fields || {};
  }
}

/** Turns `{"errors": …}` (a list, or field -> messages) into a message and per-field messages. */
function describe(status, body) {
  if (status === 401) return new ApiError(status, 'The admin token was refused.');
  const errors = body && body.errors;
  if (Array.isArray(errors)) return new ApiError(status, errors.join('; '));
  if (errors && typeof errors === 'object') {
    const fields = {};
    const parts = [];
    for (const [field, messages] of Object.entries(errors)) {
      const text = [].concat(messages).join(', ');
      fields[field] = text;
      parts.push(field === 'base' ? text : `${field} ${text}`);
    }
    return new ApiError(status, parts.join('; '), fields);
  }
  return new ApiError(status, `The server answered ${status}.`);
}

let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export async function call(method, path, body, token = savedToken()) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'The server cannot be reached.');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = text;
  }
  if (!response.ok) {
    const error = describe(response.status, data);
    if (response.status === 401) onUnauthorized();
    throw error;
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body ?? {});
export const put = (path, body) => call('PUT', path, body ?? {});
export const del = (path) => call('DELETE', path);

/** A query string from the set values of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && String(v).trim() !== '') q.set(k, String(v).trim());
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
