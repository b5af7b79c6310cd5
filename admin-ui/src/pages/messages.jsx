// Moderation: search the chosen app's messages (dialog, sender, text) and delete them for everyone.
import { useState } from 'preact/hooks';
import { get, del, query } from '../api.js';
import { ConfirmButton, Field, Loading, Pager, When, must, problems, useForm, useLoad } from '../ui.jsx';

export function MessagesPage({ app }) {
  const fromHash = location.hash.split('/')[2] || '';
  const [search, setSearch] = useState({ dialog_id: fromHash, sender_id: '', text: '', skip: 0 });
  const messages = useLoad(
    () => get(`/admin/apps/${app.id}/messages` + query({ ...search, limit: 20 })),
    [app.id, search],
  );
  const find = useForm(
    { dialog_id: fromHash, sender_id: '', text: '' },
    (v) => problems({ sender_id: must.id(v.sender_id) }),
    async (v) => {
      setSearch({ ...v, skip: 0 });
      return ' ';
    },
  );
  return (
    <>
      <form onSubmit={find.onSubmit} noValidate class="inline" role="search">
        <Field form={find} name="dialog_id" label="Dialog id" />
        <Field form={find} name="sender_id" label="Sender (user id)" inputmode="numeric" />
        <Field form={find} name="text" label="Text contains" type="search" />
        <div class="actions">
          <button type="submit">Search</button>
        </div>
      </form>
      <Loading load={messages} />
      {messages.data && (
        <>
          <div class="table-wrap">
            <table data-testid="messages">
              <thead>
                <tr>
                  <th>Sent</th>
                  <th>Dialog</th>
                  <th>Sender</th>
                  <th>Text</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {messages.data.items.map((m) => (
                  <tr>
                    <td>
                      <When at={m.date_sent ? new Date(m.date_sent * 1000).toISOString() : m.created_at} />
                    </td>
                    <td>
                      <code>{m.chat_dialog_id}</code>
                    </td>
                    <td>{m.sender_id}</td>
                    <td class="text">{m.message}</td>
                    <td class="row-actions">
                      <ConfirmButton
                        label="Delete"
                        confirm="Yes, for everyone"
                        action={() => del(`/admin/apps/${app.id}/dialogs/${m.chat_dialog_id}/messages/${m._id}`)}
                        done={messages.reload}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={messages.data} onSkip={(skip) => setSearch({ ...search, skip })} />
        </>
      )}
    </>
  );
}
