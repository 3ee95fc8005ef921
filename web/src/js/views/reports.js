// The reports page: per-project deploys, success rate and durations of the latest daily report,
// and two charts over the last two weeks of reports (success rate; median and p95 duration),
// drawn by uPlot. Says plainly when the reports route answers 404 or 403.
import { daysBefore, Report } from '../models/report.js';
import { Base, describeLoadError, poll } from './ui.js';

const HISTORY_DAYS = 13;

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
    <section class="card" aria-labelledby="per-project-title"><h2 id="per-project-title">Per project</h2>
      <div class="table-wrap"><table class="report-table">
      <thead><tr><th scope="col">Project</th><th scope="col">Deploys</th><th scope="col">Success rate</th>
        <th scope="col">Median</th><th scope="col">p95</th></tr></thead><tbody></tbody></table></div></section>
  </div>`;

const ROW = _.template(`<tr><th scope="row"><a href="#project/<%- encodeURIComponent(p.project) %>"><%- p.project %></a></th>
  <td><%- p.deploys == null ? '—' : p.deploys %></td><td><%- pct(p.success_rate) %></td>
  <td><%- secs(p.median_seconds) %></td><td><%- secs(p.p95_seconds) %></td></tr>`);

// success_rate is a fraction (0..1); show a percentage.
const percent = (rate) => (rate == null ? null : Math.round(rate * 1000) / 10);
const pct = (rate) => (rate == null ? '—' : `${percent(rate)} %`);
const secs = (s) => (s == null ? '—' : `${Number(s).toFixed(1)} s`);

export const ReportsView = Base.extend({
  initialize() {
    this.model = new Report();
    this.history = {};
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

  // The reports of the days before the latest (missing days are skipped), fetched once per day.
  async loadHistory(day) {
    if (this.historyOf === day) return;
    this.historyOf = day;
    const reports = await Promise.all(daysBefore(day, HISTORY_DAYS).map((date) => {
      const report = new Report({}, { date });
      return report.fetch().then(() => report, () => null);
    }));
    this.history = Object.fromEntries(reports.filter(Boolean).map((r) => [r.day(), r.point()]));
  },

  // Redraw table and charts; a refresh that brought the same report changes nothing.
  async draw() {
    await this.loadHistory(this.model.day());
    this.$('.report-body').prop('hidden', false);
    const generated = this.model.get('generated_at');
    this.$('.generated').text(`Report of ${this.model.day()}${generated ? `, generated ${generated}` : ''}.`);
    this.$('.report-table tbody').html(this.model.projects().map((p) => ROW({ p, pct, secs })).join('') ||
      '<tr><td colspan="5" class="muted">No deploys in this report.</td></tr>');
    const points = { ...this.history, [this.model.day()]: this.model.point() };
    this.drawCharts(_.sortBy(Object.values(points), 'day'));
  },

  drawCharts(days) {
    _.invoke(this.charts, 'destroy');
    this.charts = [];
    const xs = days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
    const width = Math.max(260, Math.min(560, this.$('#chart-success').width() || 520));
    const day = (t) => new Date(t * 1000).toISOString().slice(5, 10);
    // One tick per report day; the success rate always on a 0-100 % scale.
    const opts = (title, series, unit, range) => ({
      title, width, height: 220,
      scales: { x: { time: true, range: (u, lo, hi) => [lo - 43200, hi + 43200] }, y: { range } },
      series: [{ label: 'day', value: (u, t) => (t == null ? '--' : day(t)) },
        ...series.map(([label, stroke]) => ({ label, stroke, width: 2, points: { show: true, size: 7 } }))],
      axes: [{ splits: () => xs, values: (u, ticks) => ticks.map(day) },
        { values: (u, ticks) => ticks.map((t) => `${t}${unit}`) }],
    });
    this.charts.push(new uPlot(opts('Success rate', [['success %', '#1e8a4c']], '%', [0, 100]),
      [xs, days.map((d) => percent(d.success_rate))], this.$('#chart-success')[0]));
    this.charts.push(new uPlot(opts('Duration', [['median s', '#1f5fbf'], ['p95 s', '#c0392b']], 's',
      (u, lo, hi) => [0, Math.max(1, (hi || 0) * 1.2)]),
      [xs, days.map((d) => d.median_seconds), days.map((d) => d.p95_seconds)],
      this.$('#chart-duration')[0]));
  },

  remove() {
    _.invoke(this.charts, 'destroy');
    return Base.prototype.remove.call(this);
  },
});
