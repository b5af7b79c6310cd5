// Applications: list, create, and for the chosen one rename, rotate keys, delete, its settings and figures.
import { get, post, put, del } from '../api.js';
import { ConfirmButton, Field, Loading, Submit, When, bytes, must, problems, useForm, useLoad } from '../ui.jsx';

export function AppsPage({ app, apps, chooseApp }) {
  const create = useForm(
    { name: '' },
    (v) => problems({ name: must.filled(v.name, 'Name') }),
    async (v, setValues) => {
      const made = await post('/admin/apps', { name: v.name.trim() });
      setValues({ name: '' });
      chooseApp(String(made.id));
      apps.reload();
      return `Created "${made.name}" (#${made.id}).`;
    },
  );
  return (
    <>
      <Loading load={apps} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Id</th>
              <th>Name</th>
              <th>auth_key</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {(apps.data || []).map((a) => (
              <tr class={app && a.id === app.id ? 'selected' : ''} onClick={() => chooseApp(String(a.id))}>
                <td>{a.id}</td>
                <td>
                  <a href="#/apps" onClick={() => chooseApp(String(a.id))}>
                    {a.name}
                  </a>
                </td>
                <td>
                  <code>{a.auth_key}</code>
                </td>
                <td>
                  <When at={a.created_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section>
        <h2>New application</h2>
        <form onSubmit={create.onSubmit} noValidate class="inline" data-testid="create-app">
          <Field form={create} name="name" label="Name" />
          <Submit form={create}>Create application</Submit>
        </form>
      </section>
      {app && <AppDetail key={app.id} app={app} apps={apps} />}
    </>
  );
}

function AppDetail({ app, apps }) {
  const base = `/admin/apps/${app.id}`;
  const settings = useLoad(() => Promise.all([get(`${base}/settings`), get(`${base}/stats`)]), [app.id]);
  const rename = useForm(
    { name: app.name },
    (v) => problems({ name: must.filled(v.name, 'Name') }),
    async (v) => {
      await put(base, { name: v.name.trim() });
      apps.reload();
      return 'Renamed.';
    },
  );
  const [s, stats] = settings.data || [];
  return (
    <section class="detail" data-testid="app-detail">
      <h2>
        {app.name} <span class="muted">#{app.id}</span>
      </h2>
      <dl class="facts">
        <dt>application_id</dt>
        <dd>
          <code>{app.id}</code>
        </dd>
        <dt>auth_key</dt>
        <dd>
          <code data-testid="auth-key">{app.auth_key}</code>
        </dd>
        <dt>auth_secret</dt>
        <dd>
          <code>{app.auth_secret}</code>
        </dd>
        {stats && (
          <>
            <dt>Users / dialogs / messages</dt>
            <dd>
              {stats.users} / {stats.dialogs} / {stats.messages}
            </dd>
            <dt>Online now</dt>
            <dd>{stats.users_online}</dd>
            <dt>Database (whole server)</dt>
            <dd>{bytes(stats.storage_bytes)}</dd>
          </>
        )}
        {s && (
          <>
            <dt>Push providers</dt>
            <dd>
              FCM {s.push_credentials.fcm ? 'set up' : 'not set up'}, APNs{' '}
              {s.push_credentials.apns ? 'set up' : 'not set up'}
            </dd>
            <dt>Chat-alert template</dt>
            <dd>
              {s.push_template.title || '(sender name)'} — {s.push_template.body || '(message text)'}
            </dd>
          </>
        )}
      </dl>
      <form onSubmit={rename.onSubmit} noValidate class="inline">
        <Field form={rename} name="name" label="Name" />
        <Submit form={rename}>Rename</Submit>
      </form>
      <div class="row">
        <ConfirmButton
          label="Rotate keys"
          confirm="Yes, new auth_key and auth_secret"
          action={() => post(`${base}/rotate_keys`)}
          done={apps.reload}
        />
        <ConfirmButton
          label="Delete application"
          confirm={`Yes, delete "${app.name}" and everything in it`}
          action={() => del(base)}
          done={apps.reload}
        />
      </div>
      <p class="muted">Rotating the keys stops the old ones at once; sessions already made keep working.</p>
    </section>
  );
}
