// The audit log, newest first, a page of 50 at a time.
import { useState } from 'preact/hooks';
import { get, query } from '../api.js';
import { Loading, When, useLoad } from '../ui.jsx';

const LIMIT = 50;

export function AuditPage() {
  const [skip, setSkip] = useState(0);
  const log = useLoad(() => get('/admin/audit' + query({ limit: LIMIT, skip })), [skip]);
  const entries = log.data || [];
  return (
    <>
      <Loading load={log} />
      <div class="table-wrap">
        <table data-testid="audit">
          <thead>
            <tr>
              <th>When</th>
              <th>From</th>
              <th>Action</th>
              <th>App</th>
              <th>Target</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr>
                <td>
                  <When at={e.at} />
                </td>
                <td>{e.origin}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>{e.app_id ?? ''}</td>
                <td>{e.target ?? ''}</td>
                <td class="text">
                  <code>{JSON.stringify(e.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div class="pager">
        <button type="button" class="secondary" disabled={skip === 0} onClick={() => setSkip(Math.max(0, skip - LIMIT))}>
          Newer
        </button>
        <button type="button" class="secondary" disabled={entries.length < LIMIT} onClick={() => setSkip(skip + LIMIT)}>
          Older
        </button>
      </div>
    </>
  );
}
