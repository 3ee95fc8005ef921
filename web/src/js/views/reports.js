// The reports page: one day's report (the latest, or a day picked from those that exist) with
// per-project deploys, success rate and durations, two uPlot charts over the newest reports
// (success rate; median and p95 duration), and "Generate now" (POST /api/v1/reports) for today so
// far or a past day. The days come from GET /api/v1/reports, so only reports that exist are
// fetched. Says plainly when a route answers 404 or 403.
import { html } from '../html.js';
import { Report, reportDays } from '../models/report.js';
import { apiRequest } from '../sync.js';
import { Base, describeLoadError, flash, poll } from './ui.js';

// How many of the newest reports the charts show (each one GET).
export const HISTORY_DAYS = 14;

const today = () => new Date().toISOString().slice(0, 10);

const PAGE = html`
  <h1>Reports</h1>
  <section class="card report-tools" aria-labelledby="generate-title">
    <h2 id="generate-title" class="visually-hidden">Generate a report</h2>
    <form class="generate actions" novalidate>
      <div class="tool"><label for="report-day">Day (UTC)</label>
        <input id="report-day" name="date" type="date" aria-describedby="report-day-hint"></div>
      <button type="submit" class="generate-now">Generate now</button>
      <div class="tool"><label for="report-pick">Show the report of</label>
        <select id="report-pick" class="report-pick"><option value="">the latest day</option></select></div>
    </form>
    <p class="hint" id="report-day-hint">Generating makes (or remakes) the day's report from its
      events; today's covers the day so far. The daily schedule makes yesterday's at 08:00 UTC.</p>
    <div class="generate-result" role="alert"></div>
  </section>
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

// success_rate is a fraction (0..1); show a percentage.
const percent = (rate) => (rate == null ? null : Math.round(rate * 1000) / 10);
const pct = (rate) => (rate == null ? '—' : `${percent(rate)} %`);
const secs = (s) => (s == null ? '—' : `${Number(s).toFixed(1)} s`);

const row = (p) => html`<tr><th scope="row"><a href="#project/${encodeURIComponent(p.project)}">${p.project}</a></th>
  <td>${p.deploys == null ? '—' : p.deploys}</td><td>${pct(p.success_rate)}</td>
  <td>${secs(p.median_seconds)}</td><td>${secs(p.p95_seconds)}</td></tr>`;

export const ReportsView = Base.extend({
  events: {
    'submit form.generate': 'generate',
    'change .report-pick': 'pick',
  },

  initialize() {
    this.model = new Report();
    this.history = {};
    this.days = null;
    this.charts = [];
    this.listenTo(this.model, 'change', this.draw);
  },

  render() {
    this.$el.html(String(PAGE));
    this.$('#report-day').attr('max', today());
    poll(this, () => this.refresh(), (error) => this.$('.load-error')
      .text(describeLoadError(error, 'Reports are not available')).prop('hidden', false));
    return this;
  },

  // List the days that have a report, then fetch the picked one (or the newest): never a day
  // without a report, so no request of this page answers 404.
  async refresh() {
    const days = await this.loadDays(true);
    if (!days.length) {
      this.$('.load-error').text('No report yet: the daily schedule makes yesterday’s at 08:00 UTC, ' +
        'or choose “Generate now” for today so far.').prop('hidden', false);
      return;
    }
    const picked = this.picked && days.some((d) => d.date === this.picked);
    this.model.date = picked ? this.picked : days[0].date;
    await this.model.fetch();
    this.$('.load-error').prop('hidden', true);
  },

  // The days that have a report (newest first), listed on every refresh (one bounded GET).
  async loadDays(force = false) {
    if (this.days && !force) return this.days;
    const days = await reportDays(HISTORY_DAYS);
    const same = this.days && _.isEqual(_.pluck(this.days, 'date'), _.pluck(days, 'date'));
    this.days = days;
    if (same) return days;          // the picker is redrawn only when the list changed
    const picked = this.picked || '';
    this.$('.report-pick').html(String(html`<option value="">the latest day</option>${this.days.map(
      (d) => html`<option value="${d.date}" ${d.date === picked ? 'selected' : ''}>${d.date}</option>`)}`));
    return this.days;
  },

  // The reports of the listed days (only those: no request for a day without one), each once.
  async loadHistory() {
    const days = await this.loadDays();
    const missing = days.map((d) => d.date).filter((date) => !(date in this.history));
    await Promise.all(missing.map(async (date) => {
      if (date === this.model.day()) {
        this.history[date] = this.model.point();
        return;
      }
      const report = new Report({}, { date });
      await report.fetch();
      this.history[date] = report.point();
    }));
  },

  // Redraw table and charts; a refresh that brought the same report changes nothing.
  async draw() {
    this.history[this.model.day()] = this.model.point();
    try {
      await this.loadHistory();
    } catch (error) {
      this.$('.load-error').text(describeLoadError(error, 'The report history is not available'))
        .prop('hidden', false);
    }
    this.$('.report-body').prop('hidden', false);
    const generated = this.model.get('generated_at');
    this.$('.generated').text(`Report of ${this.model.day()}${generated ? `, generated ${generated}` : ''}` +
      `${this.model.get('complete') === false ? ' (the day so far)' : ''}.`);
    this.$('.report-table tbody').html(String(html`${this.model.projects().map(row)}`) ||
      '<tr><td colspan="5" class="muted">No deploys in this report.</td></tr>');
    const listed = new Set((this.days || []).map((d) => d.date).concat([this.model.day()]));
    const points = Object.entries(this.history).filter(([day]) => listed.has(day)).map(([, p]) => p);
    this.drawCharts(_.sortBy(points, 'day'));
  },

  // POST /api/v1/reports for the chosen day (today so far by default), then show it.
  async generate(event) {
    event.preventDefault();
    const date = this.$('#report-day').val();
    const button = this.$('.generate-now').prop('disabled', true);
    const result = this.$('.generate-result').empty();
    try {
      const report = await apiRequest('POST', '/api/v1/reports', { body: date ? { date } : {} });
      delete this.history[report.date];
      await this.loadDays(true);
      this.picked = date ? report.date : '';
      this.model.date = report.date;
      this.$('.report-pick').val(date ? report.date : '');
      this.model.set(report);
      this.$('.load-error').prop('hidden', true);
      flash(`Report of ${report.date} generated.`);
    } catch (error) {
      const fields = Object.entries(error.fields || {}).map(([k, v]) => `${k} ${v}`).join('; ');
      result.append($('<div class="alert error"></div>').text(
        `Could not generate the report: ${fields || error.message}${error.status ? ` (HTTP ${error.status})` : ''}`));
    } finally {
      button.prop('disabled', false);
    }
  },

  // Show another day's report (one of the listed days) or the latest again.
  async pick(event) {
    this.picked = event.currentTarget.value;
    const newest = (this.days || [])[0];
    if (!this.picked && !newest) return;
    this.model.date = this.picked || newest.date;
    try {
      await this.model.fetch();
    } catch (error) {
      this.$('.load-error').text(describeLoadError(error, 'That report is not available')).prop('hidden', false);
    }
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
