// A line chart of the live figures (SVG, no library): chat sessions and messages per second over the kept
// samples, each line on its own scale, with its latest value in the legend.

const W = 600;
const H = 200;
const PAD = 4;

function line(points, key, max, from, span) {
  return points
    .map((p) => {
      const x = PAD + ((p.at - from) / span) * (W - 2 * PAD);
      const y = H - PAD - (p[key] / max) * (H - 2 * PAD);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

export function LiveChart({ history }) {
  const points = history || [];
  const last = points[points.length - 1] || { sessions_online: 0, messages_per_second: 0 };
  const from = points.length ? points[0].at : 0;
  const span = Math.max(1, (points.length ? last.at : 0) - from);
  const maxSessions = Math.max(1, ...points.map((p) => p.sessions_online));
  const maxRate = Math.max(1, ...points.map((p) => p.messages_per_second));
  return (
    <figure
      class="chart"
      data-testid="live-chart"
      data-points={points.length}
      data-sessions={last.sessions_online}
      data-rate={last.messages_per_second}
    >
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label="Connections and message rate">
        {[0.25, 0.5, 0.75].map((f) => (
          <line class="grid" x1="0" x2={W} y1={H * f} y2={H * f} />
        ))}
        {points.length > 1 && (
          <>
            <polyline class="sessions" fill="none" points={line(points, 'sessions_online', maxSessions, from, span)} />
            <polyline class="rate" fill="none" points={line(points, 'messages_per_second', maxRate, from, span)} />
          </>
        )}
      </svg>
      <figcaption>
        <span class="key sessions">Chat sessions: {last.sessions_online} (scale 0–{maxSessions})</span>
        <span class="key rate">Messages/s: {last.messages_per_second} (scale 0–{maxRate})</span>
        <span class="muted">
          {points.length > 1 ? `last ${Math.round(span / 1000)} s` : 'collecting…'}
        </span>
      </figcaption>
    </figure>
  );
}
