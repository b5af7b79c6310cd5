// Users of the chosen app: search, create, and per user block/unblock, reset the password, sessions, push
// devices, delete.
import { useState } from 'preact/hooks';
import { get, post, put, del, query } from '../api.js';
import {
  ActionButton,
  ConfirmButton,
  Field,
  Loading,
  Pager,
  Submit,
  When,
  must,
  problems,
  useForm,
  useLoad,
} from '../ui.jsx';

export function UsersPage({ app }) {
  const base = `/admin/apps/${app.id}/users`;
  const [search, setSearch] = useState({ q: '', skip: 0 });
  const [open, setOpen] = useState(null);
  const users = useLoad(() => get(base + query({ q: search.q, skip: search.skip, limit: 20 })), [base, search]);
  const find = useForm({ q: '' }, null, async (v) => {
    setSearch({ q: v.q, skip: 0 });
    return ' ';
  });
  const create = useForm(
    { login: '', email: '', full_name: '', password: '' },
    (v) =>
      problems({
        login: !v.login.trim() && !v.email.trim() ? 'login or e-mail is needed' : undefined,
        password: must.filled(v.password, 'Password') || must.min(v.password, 8),
      }),
    async (v, setValues) => {
      const made = await post(base, v);
      setValues({ login: '', email: '', full_name: '', password: '' });
      users.reload();
      return `Created user #${made.id}.`;
    },
  );
  return (
    <>
      <form onSubmit={find.onSubmit} class="inline" role="search">
        <Field form={find} name="q" label="Search login, e-mail or name" type="search" />
        <div class="actions">
          <button type="submit">Search</button>
        </div>
      </form>
      <Loading load={users} />
      {users.data && (
        <>
          <div class="table-wrap">
            <table data-testid="users">
              <thead>
                <tr>
                  <th>Id</th>
                  <th>Login</th>
                  <th>E-mail</th>
                  <th>Full name</th>
                  <th>State</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {users.data.items.map((u) => (
                  <>
                    <tr data-login={u.login}>
                      <td>{u.id}</td>
                      <td>{u.login}</td>
                      <td>{u.email}</td>
                      <td>{u.full_name}</td>
                      <td>{u.blocked ? <span class="badge danger">blocked</span> : <span class="badge">active</span>}</td>
                      <td class="row-actions">
                        {u.blocked ? (
                          <ActionButton label="Unblock" action={() => del(`${base}/${u.id}/block`)} done={users.reload} />
                        ) : (
                          <ConfirmButton
                            label="Block"
                            confirm="Yes, block"
                            action={() => post(`${base}/${u.id}/block`)}
                            done={users.reload}
                          />
                        )}
                        <button type="button" class="secondary" onClick={() => setOpen(open === u.id ? null : u.id)}>
                          {open === u.id ? 'Close' : 'More'}
                        </button>
                      </td>
                    </tr>
                    {open === u.id && (
                      <tr class="expanded">
                        <td colSpan={6}>
                          <UserDetail base={`${base}/${u.id}`} user={u} done={users.reload} />
                        </td>
                      </tr>
                    )}
                  </>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={users.data} onSkip={(skip) => setSearch({ ...search, skip })} />
        </>
      )}
      <section>
        <h2>New user</h2>
        <form onSubmit={create.onSubmit} noValidate class="grid" data-testid="create-user">
          <Field form={create} name="login" label="Login" />
          <Field form={create} name="email" label="E-mail" type="email" />
          <Field form={create} name="full_name" label="Full name" />
          <Field form={create} name="password" label="Password" type="password" autocomplete="new-password" />
          <Submit form={create}>Create user</Submit>
        </form>
      </section>
    </>
  );
}

function UserDetail({ base, user, done }) {
  const sessions = useLoad(() => get(`${base}/sessions`), [base]);
  const devices = useLoad(() => get(`${base}/push_subscriptions`), [base]);
  const password = useForm(
    { password: '' },
    (v) => problems({ password: must.filled(v.password, 'Password') || must.min(v.password, 8) }),
    async (v, setValues) => {
      await put(`${base}/password`, { password: v.password });
      setValues({ password: '' });
      sessions.reload();
      return 'Password set; the user’s sessions ended.';
    },
  );
  return (
    <div class="detail">
      <form onSubmit={password.onSubmit} noValidate class="inline">
        <Field form={password} name="password" label="New password" type="password" autocomplete="new-password" />
        <Submit form={password}>Reset password</Submit>
      </form>
      <h3>Sessions</h3>
      <Loading load={sessions} />
      {sessions.data && sessions.data.length === 0 && <p class="muted">No live session.</p>}
      {sessions.data && sessions.data.length > 0 && (
        <>
          <ul class="plain">
            {sessions.data.map((s) => (
              <li>
                #{s.id}, since <When at={s.created_at} />, expires <When at={s.expires_at} />{' '}
                <ActionButton label="End" action={() => del(`${base}/sessions/${s.id}`)} done={sessions.reload} />
              </li>
            ))}
          </ul>
          <ActionButton label="End all sessions" action={() => del(`${base}/sessions`)} done={sessions.reload} />
        </>
      )}
      <h3>Push devices</h3>
      <Loading load={devices} />
      {devices.data && devices.data.length === 0 && <p class="muted">No device subscribed to pushes.</p>}
      {devices.data && devices.data.length > 0 && (
        <ul class="plain">
          {devices.data.map(({ subscription: d }) => (
            <li>
              #{d.id}: {d.device.platform.name} “{d.device.udid}” over {d.notification_channel.name}
            </li>
          ))}
        </ul>
      )}
      <div class="row">
        <ConfirmButton
          label="Delete user"
          confirm={`Yes, delete ${user.login || user.email || `#${user.id}`}`}
          action={() => del(base)}
          done={done}
        />
      </div>
    </div>
  );
}
