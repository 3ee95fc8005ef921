// The rollout panel: state, who started it and when, a live countdown while a wave bakes, what
// the rollout is watched by (alarms, canary analysis, deploy window, freeze: watching.js), the
// overall bar, and one bar per wave with its start and finish times and its analysis verdict. Redrawn when the project's
// rollout changes; the clock (times.js) ages the times and runs the countdown in between.
import { html } from '../html.js';
import { humanize } from '../labels.js';
import { tally } from '../models/project.js';
import { RolloutState } from '../status.js';
import { span } from '../times.js';
import {
  actorTag, badge, Base, countdownTag, progressBar, progressText, timeTag,
} from './ui.js';
import { watchingBlock, waveAnalysis } from './watching.js';

const R = RolloutState;

// "took 2 min" between two ISO times.
function took(start, end) {
  const seconds = (Date.parse(end) - Date.parse(start)) / 1000;
  return Number.isNaN(seconds) ? '' : `took ${span(seconds)}`;
}

function waveTimes(w) {
  if (!w.started_at) {
    return html`<span class="muted">${w.released ? 'released' : 'not started'}</span>`;
  }
  const started = html`started ${timeTag(w.started_at)}`;
  if (!w.finished_at) return started;
  return html`${started} · finished ${timeTag(w.finished_at)}
    <span class="muted">(${took(w.started_at, w.finished_at)})</span>`;
}

function waveRow(w, last) {
  const t = tally(w.counts || {});
  const size = t.total || w.size;
  const held = !w.released && !w.started_at;
  return html`
    <div class="wave" data-wave="${w.wave}">
      <span class="wave-name">Wave ${w.wave}${w.wave === last ? ' (last)' : ''}
        ${held ? html`<span class="muted">(held)</span>` : ''}</span>
      ${progressBar(t, `Progress of wave ${w.wave}`)}
      <span class="progress-label">${progressText(t)}</span>
      <span class="wave-times">${size ? `${size} host${size === 1 ? '' : 's'} · ` : ''}${waveTimes(w)}</span>
      ${w.analysis ? html`<span class="wave-judged">${waveAnalysis(w.analysis)}</span>` : ''}
    </div>`;
}

// What the rollout waits for while a wave bakes: a countdown to bake_until.
function bakeLine(r) {
  if (!r.bake_until || r.state !== R.RUNNING) return '';
  const settings = r.settings || {};
  const next = r.wave + 1 < (r.waves || []).length;
  const after = !next ? 'the rollout completes'
    : settings.auto_promote === false ? `wave ${r.wave + 1} waits for Promote`
      : `wave ${r.wave + 1} starts`;
  const done = !next ? 'bake over: completing on the next tick'
    : settings.auto_promote === false ? `bake over: promote to release wave ${r.wave + 1}`
      : `bake over: wave ${r.wave + 1} starts on the next tick`;
  return html`<p class="bake" role="timer">Wave ${r.wave} is baking: ${countdownTag(r.bake_until, done)}
    <span class="muted">(then ${after})</span></p>`;
}

function facts(r) {
  const settings = r.settings || {};
  return html`<p class="rollout-facts muted">
    ${r.created_by ? html`Started by ${actorTag(r.created_by)}` : ''}
    ${r.start_at ? html` · start ${timeTag(r.start_at)}` : ''}
    ${r.finished_at ? html` · ended ${timeTag(r.finished_at)}` : ''}
    ${settings.bake_seconds ? ` · bake ${span(settings.bake_seconds)} per wave` : ''}
    ${r.rollback_to ? ` · rolling back to ${r.rollback_to}` : ''}</p>`;
}

function panel(r, overall) {
  if (!r || !r.state) {
    return html`<h2 id="rollout-title">Rollout</h2><p class="muted">No rollout yet.</p>`;
  }
  const last = (r.waves || []).length - 1;
  return html`
    <h2 id="rollout-title">Rollout ${r.revision
      ? html`<span class="config-revision">config revision ${r.revision} of</span> ` : ''}${r.version}${r.previous_version
      ? html` <span class="muted">(from ${r.previous_version})</span>` : ''} ${badge('RolloutState', r.state)}</h2>
    ${r.reason ? html`<p class="rollout-reason">${humanize(r.reason)}</p>` : ''}
    ${facts(r)}
    ${bakeLine(r)}
    ${watchingBlock(r)}
    <div class="wave overall"><strong>Overall</strong>${progressBar(overall, 'Overall rollout progress')}
      <span class="progress-label">${progressText(overall)}</span></div>
    <div class="waves">${(r.waves || []).map((w) => waveRow(w, last))}</div>
    ${(r.lost || []).length || (r.silent || []).length || (r.blocked || []).length ? html`
    <ul class="muted">
      ${r.lost.length ? html`<li>Lost (took a deploy, never reported): ${r.lost.join(', ')}</li>` : ''}
      ${r.silent.length ? html`<li>Silent (stopped polling): ${r.silent.join(', ')}</li>` : ''}
      ${r.blocked.map((b) => html`<li>Blocked: ${b.host} — ${humanize(b.reason)}</li>`)}
    </ul>` : ''}`;
}

export const RolloutView = Base.extend({
  tagName: 'section',
  className: 'card rollout',
  attributes: { 'aria-labelledby': 'rollout-title' },

  initialize() {
    this.listenTo(this.model, 'change:rollout change:hosts', this.render);
  },

  render() {
    this.$el.html(String(panel(this.model.get('rollout'), this.model.overall())));
    return this;
  },
});
