// The reports page: per-project deploys, success rate and durations, with two charts over time
// (success rate; median and p95 duration) drawn by uPlot. Says plainly when the route is missing.
import { Report } from '../models/report.js';
import { Base, describeLoadError, poll } from './ui.js';

const PAGE = `
  <h1>Reports</h1>
  <div class="load-error alert info" role="status" hidden></div>
  <div class="report-body" hidden>
    <p class="generated muted"></p>
    <div class="grid">
      <section class="card" aria-labelledby="chart-success-title">
        <h2 id="chart-success-title">Success rate over time</h2>
        <div class="chart" id="chart-success" role="img" aria-label="Daily deploy success rate, percent"></div>
      </section>
      <section class="card" aria-labelledby="chart-duration-title">
        <h2 id="chart-duration-title">Deploy duration over time</h2>
        <div class="chart" id="chart-duration" role="img" aria-label="Daily median and p95 deploy duration, seconds"></div>
      </section>
    </div>
    <section class="card"><h2>Per project</h2><div class="table-wrap"><table class="report-table">
      <thead><tr><th scope="col">Project</th><th scope="col">Deploys</th><th scope="col">Success rate</th>
        <th scope="col">Median</th><th scope="col">p95</th></tr></thead><tbody></tbody></table></div></section>
  </div>`;

const ROW = _.template(`<tr><th scope="row"><a href="#project/<%- encodeURIComponent(p.project) %>"><%- p.project %></a></th>
  <td><%- p.deploys == null ? '—' : p.deploys %></td><td><%- pct(p.success_rate) %></td>
  <td><%- secs(p.median_seconds) %></td><td><%- secs(p.p95_seconds) %></td></tr>`);

// success_rate may be 0..1 or 0..100; show a percentage either way.
function percent(rate) {
  if (rate == null) return null;
  return rate <= 1 ? rate * 100 : rate;
}
const pct = (rate) => (rate == null ? '—' : `${percent(rate).toFixed(1)} %`);
const secs = (s) => (s == null ? '—' : `${Number(s).toFixed(1)} s`);

export const ReportsView = Base.extend({
  initialize() {
    this.model = new Report();
    this.charts = [];
    this.listenTo(this.model, 'change', this.draw);
  },

  render() {
    this.$el.html(PAGE);
    poll(this, async () => {
      await this.model.fetch();
      this.$('.load-error').prop('hidden', true);
    }, (error) => this.$('.load-error')
      .text(describeLoadError(error, 'Reports are not available')).prop('hidden', false));
    return this;
  },

  // Redraw table and charts (only when the report changed: a refresh of the same data is a no-op).
  draw() {
    this.$('.report-body').prop('hidden', false);
    const generated = this.model.get('generated_at') || this.model.get('day') || '';
    this.$('.generated').text(generated ? `Report of ${generated}.` : '');
    this.$('.report-table tbody').html(this.model.projects().map((p) => ROW({ p, pct, secs })).join('') ||
      '<tr><td colspan="5" class="muted">No deploys in this report.</td></tr>');
    this.drawCharts(this.model.daily());
  },

  drawCharts(days) {
    _.invoke(this.charts, 'destroy');
    this.charts = [];
    const xs = days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
    const width = Math.max(260, Math.min(560, this.$('#chart-success').width() || 520));
    const opts = (title, series, unit) => ({
      title, width, height: 220,
      series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2, points: { show: true } }))],
      axes: [{}, { values: (u, ticks) => ticks.map((t) => `${t}${unit}`) }],
    });
    this.charts.push(new uPlot(opts('Success rate', [['success %', '#1e8a4c']], '%'),
      [xs, days.map((d) => percent(d.success_rate))], this.$('#chart-success')[0]));
    this.charts.push(new uPlot(opts('Duration', [['median s', '#1f5fbf'], ['p95 s', '#c0392b']], 's'),
      [xs, days.map((d) => d.median_seconds ?? null), days.map((d) => d.p95_seconds ?? null)],
      this.$('#chart-duration')[0]));
  },

  remove() {
    _.invoke(this.charts, 'destroy');
    return Base.prototype.remove.call(this);
  },
});
