// Chat alerts of the chosen app: on/off, the template, and a test send to a user's devices.
import { get, post, put } from '../api.js';
import { Field, Loading, Submit, must, problems, useForm, useLoad } from '../ui.jsx';

const MAX = 1000;

export function AlertsPage({ app }) {
  const base = `/admin/apps/${app.id}/chat_alerts`;
  const current = useLoad(() => get(base), [base]);
  return (
    <>
      <Loading load={current} />
      {current.data && <Settings base={base} current={current.data} />}
      <TestSend base={base} />
    </>
  );
}

function Settings({ base, current }) {
  const form = useForm(
    {
      enabled: current.enabled,
      title: current.template.title || '',
      body: current.template.body || '',
    },
    (v) =>
      problems({
        title: v.title.length > MAX ? `is too long (maximum is ${MAX} characters)` : undefined,
        body: v.body.length > MAX ? `is too long (maximum is ${MAX} characters)` : undefined,
      }),
    async (v) => {
      await put(base, { enabled: v.enabled, title: v.title, body: v.body });
      return v.enabled ? 'Saved: chat alerts are on.' : 'Saved: chat alerts are off.';
    },
  );
  return (
    <section>
      <p>
        A chat alert is the push a user gets for a message that arrives while none of their chat sessions is
        active. In the template, <code>{'{sender_name}'}</code>, <code>{'{message}'}</code> and{' '}
        <code>{'{dialog_name}'}</code> are replaced; an empty title is the sender's name, an empty body the
        message text.
      </p>
      <form onSubmit={form.onSubmit} noValidate class="grid" data-testid="chat-alerts">
        <Field form={form} name="enabled" label="Send chat alerts" type="checkbox" />
        <Field form={form} name="title" label="Title" placeholder="{sender_name}" />
        <Field form={form} name="body" label="Body" type="textarea" rows="3" placeholder="{message}" />
        <Submit form={form}>Save chat alerts</Submit>
      </form>
    </section>
  );
}

function TestSend({ base }) {
  const form = useForm(
    { user_id: '', message: 'This is a test chat alert' },
    (v) => problems({ user_id: must.filled(v.user_id, 'The user id') || must.id(v.user_id) }),
    async (v) => {
      const sent = await post(`${base}/test`, { user_id: Number(v.user_id), message: v.message });
      return `Sent to ${sent.devices} device${sent.devices === 1 ? '' : 's'}.`;
    },
  );
  return (
    <section>
      <h2>Test send</h2>
      <form onSubmit={form.onSubmit} noValidate class="grid" data-testid="test-alert">
        <Field form={form} name="user_id" label="User id" inputmode="numeric" />
        <Field form={form} name="message" label="Message" />
        <Submit form={form}>Send test alert</Submit>
      </form>
    </section>
  );
}
