// Push providers of the chosen app (FCM and APNs credentials) and the server's push queue.
import { get, put, del } from '../api.js';
import { ConfirmButton, Field, Loading, Submit, must, problems, useForm, useLoad } from '../ui.jsx';

export function PushPage({ app }) {
  const base = `/admin/apps/${app.id}/push_credentials`;
  const creds = useLoad(() => get(base), [base]);
  const stats = useLoad(() => get('/admin/push/stats'), []);
  const fcm = useForm(
    { json: '' },
    (v) => problems({ json: must.filled(v.json, 'The service account') || must.json(v.json) }),
    async (v, setValues) => {
      await put(`${base}/fcm`, JSON.parse(v.json));
      setValues({ json: '' });
      creds.reload();
      return 'FCM credentials saved.';
    },
  );
  const apns = useForm(
    { key: '', key_id: '', team_id: '', topic: '' },
    (v) =>
      problems({
        key: must.filled(v.key, 'The key'),
        key_id: must.filled(v.key_id, 'The key id'),
        team_id: must.filled(v.team_id, 'The team id'),
      }),
    async (v, setValues) => {
      await put(`${base}/apns`, v);
      setValues({ key: '', key_id: '', team_id: '', topic: '' });
      creds.reload();
      return 'APNs credentials saved.';
    },
  );
  const c = creds.data;
  return (
    <>
      <Loading load={creds} />
      {c && (
        <dl class="facts">
          <dt>FCM</dt>
          <dd>
            {c.fcm ? (
              <>
                project {c.fcm.project_id}, {c.fcm.client_email}{' '}
                <ConfirmButton label="Remove" action={() => del(`${base}/fcm`)} done={creds.reload} />
              </>
            ) : (
              'not set up'
            )}
          </dd>
          <dt>APNs</dt>
          <dd>
            {c.apns ? (
              <>
                key {c.apns.key_id}, team {c.apns.team_id}
                {c.apns.topic ? `, topic ${c.apns.topic}` : ''}{' '}
                <ConfirmButton label="Remove" action={() => del(`${base}/apns`)} done={creds.reload} />
              </>
            ) : (
              'not set up'
            )}
          </dd>
        </dl>
      )}
      <section>
        <h2>FCM (Android, web)</h2>
        <form onSubmit={fcm.onSubmit} noValidate class="grid">
          <Field form={fcm} name="json" label="Service-account JSON" type="textarea" rows="5" />
          <Submit form={fcm}>Save FCM credentials</Submit>
        </form>
      </section>
      <section>
        <h2>APNs (iOS)</h2>
        <form onSubmit={apns.onSubmit} noValidate class="grid">
          <Field form={apns} name="key" label="Key (.p8 PEM)" type="textarea" rows="4" />
          <Field form={apns} name="key_id" label="Key id" />
          <Field form={apns} name="team_id" label="Team id" />
          <Field form={apns} name="topic" label="Topic (bundle id)" />
          <Submit form={apns}>Save APNs credentials</Submit>
        </form>
      </section>
      <section>
        <h2>Queue</h2>
        <Loading load={stats} />
        {stats.data && (
          <dl class="facts">
            <dt>Queued</dt>
            <dd>{stats.data.queue.queued}</dd>
            <dt>Retrying</dt>
            <dd>{stats.data.queue.retrying}</dd>
            {Object.entries(stats.data.providers).map(([name, counts]) => (
              <>
                <dt>{name}</dt>
                <dd>
                  {Object.entries(counts)
                    .map(([k, v]) => `${k} ${v}`)
                    .join(', ')}
                </dd>
              </>
            ))}
          </dl>
        )}
      </section>
    </>
  );
}
