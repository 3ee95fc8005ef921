// What watches or holds a running rollout, in its panel: the CloudWatch alarms with their last
// state (and the watch's countdown), the canary analysis (the metric, when it is judged, and per
// wave the evaluation's two numbers against the threshold), the deploy window (open, or when it
// next opens in local time and UTC) and the stage's freeze. Pure markup from the rollout summary
// (`watching`, `analysis`, `window`, `waves[i].analysis`); the console's one clock runs the
// countdowns (times.js).
import { html } from '../html.js';
import { humanize } from '../labels.js';
import { absolute } from '../times.js';
import { actorTag, countdownTag } from './ui.js';

// CloudWatch's alarm states as a pill: ALARM is bad, OK good, the rest neutral.
const ALARM_TONES = { ALARM: 'bad', OK: 'good' };
const ALARM_WORDS = { ALARM: 'In alarm', OK: 'OK', INSUFFICIENT_DATA: 'Insufficient data' };

function alarmBadge(state) {
  const word = state || 'UNKNOWN';
  return html`<span class="badge ${ALARM_TONES[word] || 'neutral'}" data-state="${word}"
    title="${word}">${ALARM_WORDS[word] || 'Not read yet'}</span>`;
}

// "Mon 30 Nov, 09:00 (local) · 2026-11-30 08:00:00 UTC".
export function bothTimes(iso) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return String(iso || '');
  const local = new Date(at).toLocaleString(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  });
  return `${local} (local) · ${absolute(iso)}`;
}

function alarms(w) {
  const list = w.alarms || [];
  if (!list.length && !w.alarm_error) return '';
  const until = w.until ? html` <span class="alarm-watch">· watched until ${countdownTag(w.until,
    'watch over: judged on the next tick')}</span>` : '';
  return html`<div class="alarms"><strong>Alarms</strong>${until}
    <ul>${list.map((a) => html`<li class="alarm" data-alarm="${a.name}" data-state="${a.state}">
      <span class="alarm-name">${a.name}</span> ${alarmBadge(a.state)}
      ${a.reason ? html`<span class="muted">${a.reason}</span>` : ''}</li>`)}</ul>
    ${w.alarm_error ? html`<p class="alarm-error">Alarms could not be read: ${humanize(w.alarm_error)}
      — no wave starts until they are read again.</p>` : ''}</div>`;
}

function analysisSpec(a) {
  if (!a) return '';
  const rule = `threshold = max(baseline × ${a.max_ratio}, ${a.min_value ?? 0})`;
  return html`<p class="analysis-spec"><strong>Canary analysis</strong>
    ${a.namespace} ${a.metric} ${a.statistic} <span class="muted">(${rule}; no data: ${a.on_missing || 'fail'})</span>
    ${a.evaluates_at ? html` · judged in ${countdownTag(a.evaluates_at, 'judging on the next tick')}` : ''}</p>`;
}

function windowLine(win) {
  if (!win) return '';
  if (win.open) return html`<p class="deploy-window" data-open="true">Deploy window <strong>open</strong></p>`;
  return html`<p class="deploy-window" data-open="false">Deploy window <strong>closed</strong>${win.next_open
    ? html`: next opens ${bothTimes(win.next_open)}` : ': no opening ahead'}</p>`;
}

function frozenLine(f) {
  if (!f || !f.frozen) return '';
  return html`<p class="rollout-frozen">Stage frozen by ${actorTag(f.by)}: ${f.reason}
    ${f.until ? html`<span class="muted">(until ${bothTimes(f.until)})</span>` : html`<span class="muted">(until thawed)</span>`}</p>`;
}

const number = (n) => (n === null || n === undefined ? '—' : String(Math.round(n * 1000) / 1000));

// One wave's evaluation: "canary 3 vs baseline 1 · threshold 2 · Failed".
export function waveAnalysis(e) {
  if (!e) return '';
  return html`<span class="wave-analysis ${e.passed ? 'verdict-pass' : 'verdict-fail'}" data-passed="${e.passed ? 'true' : 'false'}"
    title="${e.reason || ''}">Analysis: canary <strong class="canary">${number(e.canary)}</strong>
    vs baseline <strong class="baseline">${number(e.baseline)}</strong>${e.baseline_from === 'previous'
  ? ' (earlier evaluation)' : ''} · threshold <span class="threshold">${number(e.threshold)}</span> ·
    <span class="badge ${e.passed ? 'good' : 'bad'}">${e.passed ? 'Passed' : 'Failed'}</span></span>`;
}

// The whole block (empty when nothing watches the rollout).
export function watchingBlock(r) {
  const w = r.watching || {};
  const parts = [alarms(w), analysisSpec(r.analysis), windowLine(r.window), frozenLine(w.frozen)];
  if (parts.every((p) => !String(p))) return '';
  return html`<div class="watching" aria-label="What the rollout is watched by">${parts}</div>`;
}
