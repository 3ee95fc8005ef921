// The latest summary report: per project, deploys, success rate, durations and a daily series.
export const Report = Backbone.Model.extend({
  url: '/api/v1/reports/latest',

  // Per-project rows, whether the API sends a list or an object keyed by project.
  projects() {
    const raw = this.get('projects') || {};
    if (Array.isArray(raw)) return raw.map((p) => ({ ...p, project: p.project || p.id || p.name }));
    return Object.entries(raw).map(([project, p]) => ({ project, ...p }));
  },

  // The daily series [{day, deploys, success_rate, median_seconds, p95_seconds}], oldest first:
  // the report's own, or (when it sends per-project series only) each day's deploy-weighted mean.
  daily() {
    const own = this.get('daily') || this.get('series') || this.get('days');
    if (Array.isArray(own) && own.length) return sortByDay(own);
    const days = {};
    for (const project of this.projects()) {
      for (const point of project.daily || project.series || project.days || []) {
        const day = days[point.day || point.date] ||= { day: point.day || point.date, deploys: 0,
          weights: { success_rate: 0, median_seconds: 0, p95_seconds: 0 } };
        const n = point.deploys || 0;
        day.deploys += n;
        for (const key of Object.keys(day.weights)) day.weights[key] += (point[key] || 0) * n;
      }
    }
    return sortByDay(Object.values(days).map((d) => ({ day: d.day, deploys: d.deploys,
      ...Object.fromEntries(Object.entries(d.weights).map(([k, v]) => [k, d.deploys ? v / d.deploys : null])) })));
  },
});

function sortByDay(points) {
  return points.map((p) => ({ ...p, day: p.day || p.date })).sort((a, b) => (a.day < b.day ? -1 : 1));
}
