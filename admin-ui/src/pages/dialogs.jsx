// Dialogs of the chosen app: search, create any type (a broadcast needs no owner), and per dialog its
// members, rename and delete.
import { useState } from 'preact/hooks';
import { get, post, put, del, query } from '../api.js';
import { ConfirmButton, Field, Loading, Pager, Submit, When, must, problems, useForm, useLoad } from '../ui.jsx';

export const TYPES = { 1: 'broadcast', 2: 'group', 3: 'private', 4: 'public' };

function ids(text) {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
}

export function DialogsPage({ app }) {
  const base = `/admin/apps/${app.id}/dialogs`;
  const [search, setSearch] = useState({ name: '', type: '', user_id: '', skip: 0 });
  const [open, setOpen] = useState(null);
  const dialogs = useLoad(() => get(base + query({ ...search, limit: 20 })), [base, search]);
  const find = useForm({ name: '', type: '', user_id: '' }, (v) => problems({ user_id: must.id(v.user_id) }), async (v) => {
    setSearch({ ...v, skip: 0 });
    return ' ';
  });
  const create = useForm(
    { type: '1', name: '', user_id: '', occupants: '' },
    (v) =>
      problems({
        name: v.type !== '3' ? must.filled(v.name, 'Name') : undefined,
        user_id: v.type !== '1' ? must.filled(v.user_id, 'The owner') || must.id(v.user_id) : must.id(v.user_id),
        occupants: v.type === '3' ? must.filled(v.occupants, 'The other user') || must.ids(v.occupants) : must.ids(v.occupants),
      }),
    async (v, setValues) => {
      const body = { type: Number(v.type), name: v.name.trim() };
      if (v.user_id.trim()) body.user_id = Number(v.user_id);
      if (v.occupants.trim()) body.occupants_ids = ids(v.occupants);
      const made = await post(base, body);
      setValues({ ...v, name: '', occupants: '' });
      dialogs.reload();
      return `Created ${TYPES[made.type]} dialog ${made._id}.`;
    },
  );
  return (
    <>
      <form onSubmit={find.onSubmit} noValidate class="inline" role="search">
        <Field form={find} name="name" label="Name contains" type="search" />
        <Field
          form={find}
          name="type"
          label="Type"
          type="select"
          options={[['', 'any'], ...Object.entries(TYPES)]}
        />
        <Field form={find} name="user_id" label="Member (user id)" inputmode="numeric" />
        <div class="actions">
          <button type="submit">Search</button>
        </div>
        {find.error && <p class="notice error">{find.error.message}</p>}
      </form>
      <Loading load={dialogs} />
      {dialogs.data && (
        <>
          <div class="table-wrap">
            <table data-testid="dialogs">
              <thead>
                <tr>
                  <th>Id</th>
                  <th>Type</th>
                  <th>Name</th>
                  <th>Members</th>
                  <th>Last message</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {dialogs.data.items.map((d) => (
                  <>
                    <tr data-name={d.name}>
                      <td>
                        <code>{d._id}</code>
                      </td>
                      <td>{TYPES[d.type] || d.type}</td>
                      <td>{d.name}</td>
                      <td>{d.type === 1 ? 'everyone' : (d.occupants_ids || []).length}</td>
                      <td>{d.last_message || <span class="muted">—</span>}</td>
                      <td class="row-actions">
                        <button type="button" class="secondary" onClick={() => setOpen(open === d._id ? null : d._id)}>
                          {open === d._id ? 'Close' : 'More'}
                        </button>
                      </td>
                    </tr>
                    {open === d._id && (
                      <tr class="expanded">
                        <td colSpan={6}>
                          <DialogDetail base={`${base}/${d._id}`} dialog={d} done={dialogs.reload} />
                        </td>
                      </tr>
                    )}
                  </>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={dialogs.data} onSkip={(skip) => setSearch({ ...search, skip })} />
        </>
      )}
      <section>
        <h2>New dialog</h2>
        <form onSubmit={create.onSubmit} noValidate class="grid" data-testid="create-dialog">
          <Field form={create} name="type" label="Type" type="select" options={Object.entries(TYPES)} />
          <Field form={create} name="name" label="Name" />
          <Field
            form={create}
            name="user_id"
            label="Owner (user id)"
            inputmode="numeric"
            hint={create.values.type === '1' ? 'Optional: a broadcast needs no owner; admins post to it.' : 'Required.'}
          />
          <Field form={create} name="occupants" label="Members (user ids, comma-separated)" hint="Not used by broadcasts." />
          <Submit form={create}>Create dialog</Submit>
        </form>
      </section>
    </>
  );
}

function DialogDetail({ base, dialog, done }) {
  const detail = useLoad(() => get(base), [base]);
  const rename = useForm(
    { name: dialog.name || '' },
    (v) => problems({ name: must.filled(v.name, 'Name') }),
    async (v) => {
      await put(base, { name: v.name.trim() });
      done();
      return 'Renamed.';
    },
  );
  const occupants = (detail.data && detail.data.occupants) || [];
  return (
    <div class="detail">
      <p>
        Created <When at={dialog.created_at} />, owner {dialog.user_id || 'the operator'}.
      </p>
      <Loading load={detail} />
      {occupants.length > 0 && (
        <p>
          Members:{' '}
          {occupants.map((u) => `${u.login || u.email || u.id} (#${u.id})`).join(', ')}
        </p>
      )}
      {dialog.type !== 3 && (
        <form onSubmit={rename.onSubmit} noValidate class="inline">
          <Field form={rename} name="name" label="Name" />
          <Submit form={rename}>Rename</Submit>
        </form>
      )}
      <div class="row">
        <a class="button secondary" href={`#/messages/${dialog._id}`}>
          Messages
        </a>
        <ConfirmButton label="Delete dialog" confirm="Yes, delete it with its history" action={() => del(base)} done={done} />
      </div>
    </div>
  );
}
