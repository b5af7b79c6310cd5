// The panel: a login with the admin token, then one page per area, chosen by the URL's hash (#/users), with
// the application the per-app pages work on picked in the header.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, get, savedToken, saveToken, whenUnauthorized } from './api.js';
import { Field, Submit, useForm, useLoad, problems, must } from './ui.jsx';
import { StatusPage } from './pages/status.jsx';
import { AppsPage } from './pages/apps.jsx';
import { UsersPage } from './pages/users.jsx';
import { DialogsPage } from './pages/dialogs.jsx';
import { MessagesPage } from './pages/messages.jsx';
import { AlertsPage } from './pages/alerts.jsx';
import { PushPage } from './pages/push.jsx';
import { AuditPage } from './pages/audit.jsx';

const PAGES = [
  ['status', 'Status', StatusPage, false],
  ['apps', 'Apps', AppsPage, false],
  ['users', 'Users', UsersPage, true],
  ['dialogs', 'Dialogs', DialogsPage, true],
  ['messages', 'Messages', MessagesPage, true],
  ['alerts', 'Chat alerts', AlertsPage, true],
  ['push', 'Push', PushPage, true],
  ['audit', 'Audit log', AuditPage, false],
];

const APP_KEY = 'palaver.admin.app';

function currentPage() {
  const name = location.hash.replace(/^#\/?/, '').split('/')[0];
  return PAGES.find((p) => p[0] === name) ? name : 'status';
}

function Login({ onLogin }) {
  const form = useForm(
    { token: '' },
    (v) => problems({ token: must.filled(v.token, 'The admin token') }),
    async (v) => {
      const token = v.token.trim();
      await call('GET', '/admin/status', undefined, token);
      saveToken(token);
      onLogin(token);
      return 'Logged in.';
    },
  );
  return (
    <main class="login">
      <h1>Palaver admin</h1>
      <form onSubmit={form.onSubmit} noValidate>
        <Field
          form={form}
          name="token"
          label="Admin token"
          type="password"
          autocomplete="current-password"
          hint="PALAVER_ADMIN_TOKEN, or the admin_token file in the data directory."
        />
        <Submit form={form}>Log in</Submit>
      </form>
    </main>
  );
}

function Shell({ onLogout }) {
  const [page, setPage] = useState(currentPage);
  const [menu, setMenu] = useState(false);
  const apps = useLoad(() => get('/admin/apps'), []);
  const [appId, setAppId] = useState(() => localStorage.getItem(APP_KEY) || '');
  useEffect(() => {
    const follow = () => {
      setPage(currentPage());
      setMenu(false);
    };
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);
  const list = apps.data || [];
  // The chosen app, or the first one while none (or a deleted one) is chosen.
  const chosen = list.find((a) => String(a.id) === String(appId)) || list[0] || null;
  const choose = (id) => {
    localStorage.setItem(APP_KEY, id);
    setAppId(id);
  };
  const [, title, Page, perApp] = PAGES.find((p) => p[0] === page);
  return (
    <div class="shell">
      <header>
        <button type="button" class="menu-toggle secondary" aria-expanded={menu} onClick={() => setMenu(!menu)}>
          Menu
        </button>
        <strong class="brand">Palaver admin</strong>
        <label class="app-picker">
          <span>App</span>
          <select value={chosen ? chosen.id : ''} onChange={(e) => choose(e.currentTarget.value)} aria-label="Application">
            {list.map((a) => (
              <option value={a.id}>
                {a.name} (#{a.id})
              </option>
            ))}
          </select>
        </label>
        <button type="button" class="secondary" onClick={onLogout}>
          Log out
        </button>
      </header>
      <nav class={menu ? 'open' : ''} aria-label="Areas">
        {PAGES.map(([name, label]) => (
          <a href={`#/${name}`} aria-current={name === page ? 'page' : undefined}>
            {label}
          </a>
        ))}
      </nav>
      <main>
        <h1>
          {title}
          {perApp && chosen && <span class="muted"> · {chosen.name}</span>}
        </h1>
        {perApp && !chosen ? (
          <p class="muted">{apps.loading ? 'Loading…' : 'Create an application first (Apps).'}</p>
        ) : (
          <Page key={perApp && chosen ? chosen.id : page} app={chosen} apps={apps} chooseApp={choose} />
        )}
      </main>
    </div>
  );
}

function Panel() {
  const [token, setToken] = useState(savedToken);
  useEffect(() => {
    whenUnauthorized(() => {
      saveToken('');
      setToken('');
    });
  }, []);
  if (!token) return <Login onLogin={setToken} />;
  return (
    <Shell
      onLogout={() => {
        saveToken('');
        setToken('');
      }}
    />
  );
}

render(<Panel />, document.getElementById('root'));
