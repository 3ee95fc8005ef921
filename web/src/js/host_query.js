// Which host rows the table shows: filtered by status, wave, zone and name, sorted by any column,
// one page at a time. Pure (no DOM): the table view keeps the state in the URL hash
// (`#project/web?status=failed&wave=1&sort=status&dir=desc&page=2`) and asks this module.
// Hosts that left the fleet are apart: shown only when the status filter asks for them. For a
// fleet larger than the project view returns, `routeQuery` is what the table asks the hosts route.
import { HostStatus, HOST_ROW_STATUSES } from './status.js';

export const PAGE_SIZE = 100;
export const COLUMNS = Object.freeze(['host', 'target_version', 'running_version', 'status',
  'wave', 'reported_at', 'zone', 'member']);
const DEFAULTS = Object.freeze({ sort: 'host', dir: 'asc', status: '', wave: '', zone: '', q: '', page: 1 });
const ZONE_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

// Statuses sorted by how much they need a look: problems first, hosts at rest last.
const H = HostStatus;
const SEVERITY = [H.FAILED, H.LOST, H.ROLLED_BACK, H.ROLLBACK_PENDING, H.IN_PROGRESS, H.DRAINING,
  H.PENDING, H.WAITING, H.SKIPPED, H.SUCCEEDED, H.IDLE, H.LEFT];
const severity = (status) => {
  const at = SEVERITY.indexOf(status);
  return at < 0 ? SEVERITY.length + HOST_ROW_STATUSES.indexOf(status) : at;
};

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

// The table's state from a query string (unknown or bad values fall back to the defaults).
export function readQuery(queryString) {
  const params = new URLSearchParams(queryString || '');
  const state = { ...DEFAULTS };
  if (COLUMNS.includes(params.get('sort'))) state.sort = params.get('sort');
  if (params.get('dir') === 'desc') state.dir = 'desc';
  if (HOST_ROW_STATUSES.includes(params.get('status'))) state.status = params.get('status');
  if (/^\d{1,3}$/.test(params.get('wave') || '')) state.wave = params.get('wave');
  if (ZONE_RE.test(params.get('zone') || '')) state.zone = params.get('zone');
  state.q = (params.get('q') || '').slice(0, 200);
  const page = Number(params.get('page'));
  if (Number.isInteger(page) && page > 0) state.page = page;
  return state;
}

// The query string of a state, defaults left out ("" for the default view).
export function writeQuery(state) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) {
    if (key in DEFAULTS && value !== '' && String(value) !== String(DEFAULTS[key])) {
      params.set(key, value);
    }
  }
  return params.toString();
}

function compare(a, b, column) {
  if (column === 'status') return severity(a.status) - severity(b.status);
  if (column === 'wave') {
    const wa = a.wave ?? Infinity;
    const wb = b.wave ?? Infinity;
    return wa === wb ? 0 : (wa < wb ? -1 : 1);
  }
  const va = a[column];
  const vb = b[column];
  if (!va && !vb) return 0;
  if (!va) return 1;      // empty cells last, whichever the direction
  if (!vb) return -1;
  return column === 'reported_at' ? (va < vb ? -1 : va > vb ? 1 : 0) : collator.compare(va, vb);
}

// Rows matching the filters, sorted (ties by host name), and the page asked for (clamped).
export function query(rows, state) {
  const needle = state.q.trim().toLowerCase();
  const matching = rows.filter((row) => (state.status ? row.status === state.status : row.status !== H.LEFT) &&
    (state.wave === '' || String(row.wave) === state.wave) &&
    (!state.zone || row.zone === state.zone) &&
    (!needle || row.host.toLowerCase().includes(needle)));
  const sign = state.dir === 'desc' ? -1 : 1;
  const emptyLast = (row) => (state.sort !== 'status' && state.sort !== 'wave' && !row[state.sort]);
  matching.sort((a, b) => {
    const ea = emptyLast(a);
    const eb = emptyLast(b);
    if (ea !== eb) return ea ? 1 : -1;
    return sign * compare(a, b, state.sort) || collator.compare(a.host, b.host);
  });
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const page = Math.min(Math.max(1, state.page), pages);
  const start = (page - 1) * PAGE_SIZE;
  return { rows: matching.slice(start, start + PAGE_SIZE), total: matching.length, page, pages,
    first: matching.length ? start + 1 : 0, last: Math.min(start + PAGE_SIZE, matching.length) };
}

// How many rows have each status, wave and zone (for the filters' option texts); waves and
// zones count the hosts still in the fleet.
export function facets(rows) {
  const statuses = {};
  const waves = {};
  const zones = {};
  for (const row of rows) {
    statuses[row.status] = (statuses[row.status] || 0) + 1;
    if (row.status === H.LEFT) continue;
    if (row.wave !== null && row.wave !== undefined) waves[row.wave] = (waves[row.wave] || 0) + 1;
    if (row.zone) zones[row.zone] = (zones[row.zone] || 0) + 1;
  }
  return { statuses, waves, zones };
}

// The query string of the hosts route (GET /api/v1/project/{id}/hosts) for the table's filters:
// the server filters a fleet larger than the project view returns (`q`: host name contains).
export function routeQuery(state, cursor) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const key of ['status', 'wave', 'zone', 'q']) {
    const value = String(state[key] ?? '').trim();
    const text = key === 'q' ? value.toLowerCase().replace(/[^a-z0-9.-]/g, '') : value;
    if (text) params.set(key, text);
  }
  // hosts that left are apart here too: only listed when the status filter asks for them
  if (!state.status) params.set('status', Object.values(H).filter((s) => s !== H.LEFT).join(','));
  if (cursor) params.set('cursor', cursor);
  return params.toString();
}
