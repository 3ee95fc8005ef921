// The promotion chain of a project with `promote_from` (the project's `promotion`):
// "staging 2.1.0 ✓ soaking 40 min → prod 2.0.0", why nothing is promoted now, and for admins a
// "Promote 2.1.0" button (confirmed, then POST .../promote-release). While the candidate still
// soaks, or the upstream's rollout is not done, the button reads "Force promote 2.1.0…" and
// opens a reason field: the promotion is then sent with force and the reason (recorded).
import { html } from '../html.js';
import { humanize, labelOf } from '../labels.js';
import { RolloutState } from '../status.js';
import { apiRequest } from '../sync.js';
import { span } from '../times.js';
import { Base, confirmAction, flash } from './ui.js';

// The upstream's step of the chain: its version, ✓ once succeeded (soaking N min), else its state.
function upstreamStep(from) {
  if (!from.version) return html`<span class="step">${from.project} <span class="muted">(no rollout yet)</span></span>`;
  const soaking = from.soaking && from.soak_until
    ? html` <span class="soaking">soaking ${span((Date.parse(from.soak_until) - Date.now()) / 1000)}</span>` : '';
  const mark = from.state === RolloutState.SUCCEEDED
    ? html`<span class="ok" aria-label="succeeded" title="succeeded">✓</span>`
    : html`<span class="state" title="${from.state}">(${labelOf('RolloutState', from.state).toLowerCase()})</span>`;
  return html`<span class="step" title="${from.summary || ''}">${from.project} ${from.version} ${mark}${soaking}</span>`;
}

// What a click would promote, and whether it needs force: the candidate (soaking: forced), or the
// upstream's newest version when its rollout is not done and differs from ours (forced).
function target(project, chain) {
  const from = chain.from || {};
  if (chain.candidate) return { version: chain.candidate, force: Boolean(from.soaking) };
  if (from.version && from.state !== RolloutState.SUCCEEDED && from.version !== project.version) {
    return { version: from.version, force: true };
  }
  return null;
}

function chainHtml(project, chain) {
  const from = chain.from || {};
  const next = target(project, chain);
  return html`
  <h2 id="promotion-title">Promotion</h2>
  <p class="chain">${upstreamStep(from)} <span class="arrow">→</span>
    <span class="step">${project.id} ${project.version}</span></p>
  <p class="muted promotion-mode">${chain.auto
    ? `Promoted automatically once ${from.project}'s rollout succeeded${chain.soak_seconds ? ` and soaked ${span(chain.soak_seconds)}` : ''}.`
    : `Promoted by hand${chain.soak_seconds ? ` after a soak of ${span(chain.soak_seconds)}` : ''}.`}</p>
  ${chain.blocked ? html`<p class="promotion-blocked">${humanize(chain.blocked)}</p>` : ''}
  ${next ? html`
  <div class="actions">
    <button type="button" class="${next.force ? 'danger' : ''}" data-version="${next.version}"
      data-force="${next.force ? 'true' : 'false'}">${next.force ? `Force promote ${next.version}…` : `Promote ${next.version}`}</button>
  </div>
  <form class="force-form" hidden>
    <label for="promotion-reason">Why promote ${next.version} before ${from.project}'s rollout is done? (recorded)</label>
    <input id="promotion-reason" name="reason" maxlength="500" required>
    <button type="submit" class="danger">Promote anyway</button>
    <button type="button" class="cancel">Cancel</button>
  </form>` : ''}
  <div class="promotion-result" role="alert"></div>`;
}

export const PromotionView = Base.extend({
  tagName: 'section',
  className: 'card promotion',
  attributes: { 'aria-labelledby': 'promotion-title' },
  events: {
    'click button[data-version]': 'ask',
    'submit .force-form': 'forced',
    'click .force-form .cancel': 'cancel',
  },

  initialize() {
    this.listenTo(this.model, 'change:promotion change:version', this.render);
  },

  // Hidden without promote_from; redrawn only when the chain changed (an open reason form stays).
  render() {
    const chain = this.model.get('promotion');
    this.$el.prop('hidden', !chain);
    if (!chain || this.$('.force-form:not([hidden])').length) return this;
    const result = this.$('.promotion-result').children().detach();
    this.$el.html(String(chainHtml(this.model.toJSON(), chain)));
    this.$('.promotion-result').append(result);
    return this;
  },

  async ask(event) {
    const button = $(event.currentTarget);
    const version = String(button.data('version'));
    if (button.data('force') === true || button.data('force') === 'true') {
      this.$('.force-form').prop('hidden', false).find('input').trigger('focus');
      return;
    }
    const from = (this.model.get('promotion').from || {}).project;
    const text = `Give ${this.model.id} the release ${version} that ${from} runs (the same artifact, no build); then ${this.model.id}'s rollout of ${version} starts.`;
    if (!await confirmAction(`Promote ${version}?`, text, `Promote ${version}`)) return;
    await this.send({ version });
  },

  async forced(event) {
    event.preventDefault();
    const reason = this.$('.force-form input').val().trim();
    if (!reason) return;
    const version = String(this.$('button[data-version]').data('version'));
    this.$('.force-form').prop('hidden', true);
    await this.send({ version, force: true, reason });
  },

  cancel() {
    this.$('.force-form').prop('hidden', true);
  },

  async send(body) {
    try {
      const done = await apiRequest('POST', `${this.model.url()}/promote-release`, { body });
      this.$('.promotion-result').html('');
      flash(done.promoted ? `Promoted ${done.version} from ${done.from.project}: the rollout starts.`
        : `${this.model.id} already has ${done.version}.`);
    } catch (error) {
      const why = error.status === 409 ? `The API refused the promotion: ${humanize(error.message)}`
        : `The promotion failed: ${error.message}${error.status ? ` (HTTP ${error.status})` : ''}`;
      this.$('.promotion-result').html($('<div class="alert conflict"></div>').text(why));
    }
    this.trigger('changed');
  },
});
