// The server at a glance: version and uptime, counts, and the live chart fed by /admin/live every 2 s.
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { Notice, useLoad, bytes, When } from '../ui.jsx';
import { LiveChart } from './chart.jsx';

const POLL_MS = 2000;

function uptime(secs) {
  const d = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  return `${d ? `${d}d ` : ''}${h}h ${m}m ${secs % 60}s`;
}

export function StatusPage() {
  const status = useLoad(() => get('/admin/status'), []);
  const push = useLoad(() => get('/admin/push/stats'), []);
  const [live, setLive] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let stop = false;
    let timer;
    const tick = async () => {
      try {
        const now = await get('/admin/live');
        if (!stop) {
          setLive(now);
          setError(null);
        }
      } catch (e) {
        if (!stop) setError(e);
      }
      if (!stop) timer = setTimeout(tick, POLL_MS);
    };
    tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, []);
  const s = status.data;
  const f = s && s.figures;
  return (
    <>
      <Notice error={status.error || error} />
      <section class="cards" aria-label="Live figures">
        <Card label="Chat sessions online" value={live ? live.sessions_online : '…'} id="sessions-online" />
        <Card label="Users online" value={live ? live.users_online : '…'} />
        <Card label="Messages per second" value={live ? live.messages_per_second : '…'} id="message-rate" />
        <Card label="Pushes sent" value={live ? live.pushes_sent : '…'} />
        <Card label="Pushes failed" value={live ? live.pushes_failed : '…'} />
        <Card label="Storage used" value={live ? bytes(live.storage_bytes) : '…'} />
      </section>
      <section>
        <h2>Connections and message rate</h2>
        <LiveChart history={live && live.history} />
      </section>
      {s && (
        <section>
          <h2>Server</h2>
          <dl class="facts">
            <dt>Version</dt>
            <dd>{s.version}</dd>
            <dt>Started</dt>
            <dd>
              <When at={s.started_at} />
            </dd>
            <dt>Uptime</dt>
            <dd>{uptime(s.uptime_secs)}</dd>
            <dt>Applications</dt>
            <dd>{f.apps}</dd>
            <dt>Users</dt>
            <dd>{f.users}</dd>
            <dt>Dialogs</dt>
            <dd>{f.dialogs}</dd>
            <dt>Messages</dt>
            <dd>{f.messages}</dd>
            <dt>REST sessions</dt>
            <dd>{f.sessions}</dd>
          </dl>
        </section>
      )}
      {push.data && (
        <section>
          <h2>Push queue</h2>
          <dl class="facts">
            <dt>Queued</dt>
            <dd>{push.data.queue.queued}</dd>
            <dt>Due now</dt>
            <dd>{push.data.queue.due}</dd>
            <dt>Retrying</dt>
            <dd>{push.data.queue.retrying}</dd>
            {Object.entries(push.data.providers).map(([name, counts]) => (
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
        </section>
      )}
    </>
  );
}

function Card({ label, value, id }) {
  return (
    <div class="card" data-testid={id}>
      <span class="card-value">{value}</span>
      <span class="card-label">{label}</span>
    </div>
  );
}
