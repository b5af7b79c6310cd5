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
  const edit = useForm(
    { name: dialog.name || '', add: '', remove: '', addAdmins: '', removeAdmins: '' },
    (v) =>
      problems({
        name: dialog.type !== 3 ? must.filled(v.name, 'Name') : undefined,
        add: must.ids(v.add),
        remove: must.ids(v.remove),
        addAdmins: must.ids(v.addAdmins),
        removeAdmins: must.ids(v.removeAdmins),
      }),
    async (v, setValues) => {
      const body = {};
      if (dialog.type !== 3 && v.name.trim() !== (dialog.name || '')) body.name = v.name.trim();
      const push = {};
      const pull = {};
      if (v.add.trim()) push.occupants_ids = ids(v.add);
      if (v.addAdmins.trim()) push.admins_ids = ids(v.addAdmins);
      if (v.remove.trim()) pull.occupants_ids = ids(v.remove);
      if (v.removeAdmins.trim()) pull.admins_ids = ids(v.removeAdmins);
      if (Object.keys(push).length) body.push_all = push;
      if (Object.keys(pull).length) body.pull_all = pull;
      if (!Object.keys(body).length) return 'Nothing to change.';
      await put(base, body);
      setValues({ ...v, add: '', remove: '', addAdmins: '', removeAdmins: '' });
      detail.reload();
      done();
      return 'Saved.';
    },
  );
  const d = detail.data || dialog;
  const occupants = (detail.data && detail.data.occupants) || [];
  const broadcast = dialog.type === 1;
  return (
    <div class="detail">
      <p>
        Created <When at={dialog.created_at} />, owner {dialog.user_id || 'the operator'}
        {(d.admins_ids || []).length > 0 && <>, admins {d.admins_ids.join(', ')}</>}.
      </p>
      <Loading load={detail} />
      {occupants.length > 0 && (
        <p>
          Members:{' '}
          {occupants.map((u) => `${u.login || u.email || u.id} (#${u.id})`).join(', ')}
        </p>
      )}
      {dialog.type !== 3 && (
        <form onSubmit={edit.onSubmit} noValidate class="grid" data-testid="edit-dialog">
          <Field form={edit} name="name" label="Name" />
          {!broadcast && <Field form={edit} name="add" label="Add members (user ids)" />}
          {!broadcast && <Field form={edit} name="remove" label="Remove members (user ids)" />}
          <Field
            form={edit}
            name="addAdmins"
            label="Add admins (user ids)"
            hint={broadcast ? 'Admins post to a broadcast; everyone else only reads.' : undefined}
          />
          <Field form={edit} name="removeAdmins" label="Remove admins (user ids)" />
          <Submit form={edit}>Save dialog</Submit>
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
