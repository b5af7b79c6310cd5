// Shared pieces of every page: loading data, forms with validation, buttons that ask twice, tables, pages.
import { useCallback, useEffect, useState } from 'preact/hooks';

/** Runs `load` now and whenever `deps` change; `reload()` runs it again. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const run = useCallback(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

export function Notice({ error, ok }) {
  if (error) {
    return <p class="notice error" role="alert">{error.message || String(error)}</p>;
  }
  if (ok) return <p class="notice ok" role="status">{ok}</p>;
  return null;
}

/**
 * A form's state: `values`, `errors` per field (from `validate` before sending, then from the server's
 * answer), `busy`, a general `error` and an `ok` message after success.
 */
export function useForm(initial, validate, submit) {
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [ok, setOk] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (name) => (e) => {
    const value = e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value;
    setValues((v) => ({ ...v, [name]: value }));
  };
  const onSubmit = async (e) => {
    e.preventDefault();
    setOk(null);
    setError(null);
    const found = (validate && validate(values)) || {};
    setErrors(found);
    if (Object.keys(found).length) {
      setError(new Error('Please correct the fields marked below.'));
      return;
    }
    setBusy(true);
    try {
      const message = await submit(values, setValues);
      setOk(message || 'Saved.');
    } catch (err) {
      const fields = err.fields || {};
      setErrors(fields);
      // Errors the form shows next to its fields are not repeated; others (the server's `base`) are.
      const named = Object.keys(fields);
      const beside = named.length > 0 && named.every((f) => f in values);
      setError(beside ? new Error('Please correct the fields marked below.') : err);
    } finally {
      setBusy(false);
    }
  };
  return { values, setValues, set, errors, error, ok, busy, onSubmit };
}

let nextId = 0;

/** A labelled input bound to a `useForm` field. */
export function Field({ form, name, label, type = 'text', hint, ...rest }) {
  const [id] = useState(() => `f${++nextId}`);
  const error = form.errors[name];
  const common = {
    id,
    name,
    'aria-invalid': error ? 'true' : undefined,
    'aria-describedby': error ? `${id}-error` : undefined,
    ...rest,
  };
  let input;
  if (type === 'textarea') {
    input = <textarea {...common} value={form.values[name] ?? ''} onInput={form.set(name)} />;
  } else if (type === 'checkbox') {
    input = <input {...common} type="checkbox" checked={!!form.values[name]} onChange={form.set(name)} />;
  } else if (type === 'select') {
    input = (
      <select {...common} value={form.values[name]} onChange={form.set(name)}>
        {rest.options.map(([value, text]) => (
          <option value={value}>{text}</option>
        ))}
      </select>
    );
  } else {
    input = <input {...common} type={type} value={form.values[name] ?? ''} onInput={form.set(name)} />;
  }
  return (
    <div class={`field${type === 'checkbox' ? ' check' : ''}`}>
      <label for={id}>{label}</label>
      {input}
      {hint && !error && <small class="hint">{hint}</small>}
      {error && (
        <small class="field-error" id={`${id}-error`}>
          {error}
        </small>
      )}
    </div>
  );
}

export function Submit({ form, children }) {
  return (
    <div class="actions">
      <button type="submit" disabled={form.busy}>
        {form.busy ? 'Working…' : children}
      </button>
      <Notice error={form.error} ok={form.ok} />
    </div>
  );
}

/** A button that asks "Sure?" before it acts; shows what went wrong if the action fails. */
export function ConfirmButton({ label, confirm = 'Yes, do it', action, danger = true, done }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await action();
      setAsking(false);
      done && done();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="confirm">
      {asking ? (
        <>
          <button type="button" class={danger ? 'danger' : ''} disabled={busy} onClick={go}>
            {confirm}
          </button>
          <button type="button" class="secondary" onClick={() => setAsking(false)}>
            Cancel
          </button>
        </>
      ) : (
        <button type="button" class={danger ? 'danger-outline' : 'secondary'} onClick={() => setAsking(true)}>
          {label}
        </button>
      )}
      {error && <Notice error={error} />}
    </span>
  );
}

/** A button that acts at once and reports failures. */
export function ActionButton({ label, action, done, kind = 'secondary' }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await action();
      done && done();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="confirm">
      <button type="button" class={kind} disabled={busy} onClick={go}>
        {label}
      </button>
      {error && <Notice error={error} />}
    </span>
  );
}

/** Previous / next over a paged answer (`total_entries`, `limit`, `skip`). */
export function Pager({ page, onSkip }) {
  if (!page) return null;
  const { total_entries: total, limit, skip } = page;
  const last = Math.min(skip + limit, total);
  return (
    <div class="pager">
      <span>
        {total === 0 ? 'Nothing found' : `${skip + 1}–${last} of ${total}`}
      </span>
      <button type="button" class="secondary" disabled={skip === 0} onClick={() => onSkip(Math.max(0, skip - limit))}>
        Previous
      </button>
      <button type="button" class="secondary" disabled={last >= total} onClick={() => onSkip(skip + limit)}>
        Next
      </button>
    </div>
  );
}

export function Loading({ load }) {
  if (load.error) return <Notice error={load.error} />;
  if (load.loading && !load.data) return <p class="muted">Loading…</p>;
  return null;
}

export function When({ at }) {
  if (!at) return <span class="muted">—</span>;
  const d = new Date(at);
  return <time datetime={at}>{d.toLocaleString()}</time>;
}

export function bytes(n) {
  if (n == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Validation helpers: each returns a message or nothing. */
export const must = {
  filled: (v, what = 'This') => (!v || !String(v).trim() ? `${what} can't be blank` : undefined),
  id: (v) => (v && !/^\d+$/.test(String(v).trim()) ? 'must be a number' : undefined),
  ids: (v) => (v && !/^\s*\d+(\s*,\s*\d+)*\s*$/.test(v) ? 'must be numbers separated by commas' : undefined),
  min: (v, n) => (v && String(v).length < n ? `is too short (minimum is ${n} characters)` : undefined),
  json: (v) => {
    try {
      JSON.parse(v);
      return undefined;
    } catch (e) {
      return 'is not valid JSON';
    }
  },
};

/** Only the entries with a message. */
export function problems(map) {
  return Object.fromEntries(Object.entries(map).filter(([, v]) => v));
}
