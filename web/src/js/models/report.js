// One day's summary report (GET /api/v1/reports/latest or /api/v1/reports/{date}): per project,
// deploys, success rate and durations; `totals` for the whole day.
import { apiRequest } from '../sync.js';

export const Report = Backbone.Model.extend({
  initialize(attrs, { date } = {}) {
    this.date = date || 'latest';
  },

  url() {
    return `/api/v1/reports/${encodeURIComponent(this.date)}`;
  },

  // The report's day (YYYY-MM-DD).
  day() {
    return this.get('date') || this.get('day');
  },

  // Per-project rows with the numbers the page shows.
  projects() {
    const raw = this.get('projects') || [];
    const list = Array.isArray(raw) ? raw : Object.entries(raw).map(([project, p]) => ({ project, ...p }));
    return list.map((p) => ({ project: p.project || p.id, deploys: p.deploys,
      success_rate: p.success_rate, ...durations(p) }));
  },

  // The day as one point of the charts: deploys, success rate, median and p95 duration.
  point() {
    const totals = this.get('totals') || this.attributes;
    return { day: this.day(), deploys: totals.deploys, success_rate: totals.success_rate,
      ...durations(totals) };
  },
});

// {median_seconds, p95_seconds} from either `duration_seconds: {median, p95}` or flat fields.
function durations(data) {
  const d = data.duration_seconds || {};
  return { median_seconds: d.median ?? data.median_seconds ?? null,
    p95_seconds: d.p95 ?? data.p95_seconds ?? null };
}

// The days that have a report, newest first, at most `limit` (GET /api/v1/reports):
// [{date, modified_at, size}].
export async function reportDays(limit) {
  const data = await apiRequest('GET', `/api/v1/reports?limit=${limit}`);
  return ((data && data.reports) || []).slice(0, limit);
}
