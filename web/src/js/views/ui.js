// Small shared pieces of the views: progress bars, badges, times, flash messages, polling.
import { config } from '../config.js';
import { HostStatus, ReportStatus, toneOf } from '../status.js';

const esc = _.escape;

// A status pill coloured by its word's tone (status.js); `text` defaults to the word.
export function badge(kind, text) {
  return `<span class="badge ${toneOf(kind)}" data-state="${esc(kind || '')}">` +
    `${esc(text || kind || '')}</span>`;
}

// A phase report's status as a pill: ok is coloured as succeeded, anything else as failed.
export function reportBadge(status) {
  return badge(status === ReportStatus.OK ? HostStatus.SUCCEEDED : HostStatus.FAILED, status);
}

// An accessible progress bar: done (green), failed (red), busy (blue) out of total.
export function progressBar({ done = 0, failed = 0, busy = 0, total = 0 }, label) {
  const pct = (n) => (total ? (100 * n) / total : 0);
  const now = total ? Math.round(pct(done)) : 0;
  const text = `${done} of ${total} done` + (failed ? `, ${failed} failed` : '') +
    (busy ? `, ${busy} deploying` : '');
  return `<div class="progress" role="progressbar" aria-label="${esc(label)}" aria-valuemin="0"
      aria-valuemax="100" aria-valuenow="${now}" aria-valuetext="${esc(text)}" title="${esc(text)}">
      <span class="done" style="width:${pct(done)}%"></span>
      <span class="failed" style="width:${pct(failed)}%"></span>
      <span class="busy" style="width:${pct(busy)}%"></span>
    </div>`;
}

export function progressText({ done = 0, failed = 0, busy = 0, total = 0 }) {
  return `${done}/${total}` + (failed ? ` · ${failed} failed` : '') + (busy ? ` · ${busy} busy` : '');
}

// "12 s ago" / "3 min ago" for an ISO time; empty for none.
export function ago(iso) {
  if (!iso) return '';
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (Number.isNaN(seconds)) return iso;
  if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return iso.slice(0, 10);
}

// A <time> element with an absolute title and a relative text.
export function timeTag(iso) {
  if (!iso) return '<span class="muted">—</span>';
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${esc(ago(iso))}</time>`;
}

// A message at the bottom right, gone after a few seconds.
export function flash(message, kind = 'info') {
  const box = $(`<div class="alert ${esc(kind)}"></div>`).text(message);
  $('#flash').empty().append(box);
  setTimeout(() => box.fadeOut(400, () => box.remove()), 6000);
}

// Ask before a control; resolves true when the user confirms (the native <dialog> keeps focus
// inside and answers Escape).
export function confirmAction(title, text, okLabel) {
  const dialog = document.getElementById('confirm');
  dialog.querySelector('#confirm-title').textContent = title;
  dialog.querySelector('#confirm-text').textContent = text;
  dialog.querySelector('#confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    dialog.querySelector('#confirm-ok').focus();
  });
}

// What to tell the user about an API error of a page's data: 403/404 say what they mean.
export function describeLoadError(error, what) {
  if (error.status === 404) return `${what}: the API answered 404 (${error.message}) — this route or item does not exist (yet) on ${config.apiUrl}.`;
  if (error.status === 403) return `${what}: the API answered 403 — your key may not read this. ${error.message}`;
  if (error.status === 0) return error.message;
  return `${what}: ${error.message} (HTTP ${error.status})`;
}

// Run `tick` now and every refresh interval until the view is removed; errors are reported
// to `onError`, never thrown (a view keeps polling through a blip).
export function poll(view, tick, onError) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    try {
      await tick();
    } catch (error) {
      if (onError) onError(error);
    }
    if (!stopped) timer = setTimeout(run, config.refreshMs);
  };
  run();
  const stop = () => { stopped = true; clearTimeout(timer); };
  view.once('removed', stop);
  return stop;
}

// Backbone.View.remove that also stops the view's pollers and subviews.
export const Base = Backbone.View.extend({
  remove() {
    this.trigger('removed');
    _.invoke(this.subviews || [], 'remove');
    return Backbone.View.prototype.remove.call(this);
  },
});
