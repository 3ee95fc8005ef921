// Rollout controls: promote, pause, resume, roll back — each asks for confirmation first and
// explains a refusal (409: the rollout's state forbids it, or another control got there first).
import { html } from '../html.js';
import { humanize, labelOf } from '../labels.js';
import { CONTROL_STATES, RolloutState } from '../status.js';
import { Base, confirmAction, flash } from './ui.js';

const ACTIONS = {
  promote: {
    label: 'Promote', states: CONTROL_STATES.promote,
    title: 'Promote the rollout?',
    text: (p, r) => (r.state === RolloutState.RUNNING
      ? `Release wave ${r.wave + 1} (waves count from 0; the last is ${r.waves.length - 1}) of ${p.id} ${r.version} now, without waiting for the bake time or an automatic promote.`
      : `Start the rollout of ${p.id} ${r.version} now instead of at its scheduled time.`),
  },
  pause: {
    label: 'Pause', states: CONTROL_STATES.pause,
    title: 'Pause the rollout?',
    text: (p, r) => `Stop releasing waves of ${p.id} ${r.version}. Hosts already deploying finish their deploy.`,
  },
  resume: {
    label: 'Resume', states: CONTROL_STATES.resume,
    title: 'Resume the rollout?',
    text: (p, r) => (r.state === RolloutState.HALTED
      ? `Continue the halted rollout of ${p.id} ${r.version} and retry the hosts whose deploy failed.`
      : `Continue releasing waves of ${p.id} ${r.version}.`),
  },
  rollback: {
    label: 'Roll back', danger: true, states: CONTROL_STATES.rollback,
    title: 'Roll back?',
    text: (p, r) => (r.previous_version
      ? `Send every host of ${p.id} that runs ${r.version} back to ${r.previous_version}.`
      : `Roll back ${p.id} ${r.version}: there is no previous good version, so the API will refuse unless one exists.`),
  },
};

function buttons(state) {
  return html`
  <h2 id="controls-title">Controls</h2>
  <div class="actions" role="group" aria-labelledby="controls-title">
  ${Object.entries(ACTIONS).map(([name, a]) => html`
    <button type="button" class="${a.danger ? 'danger' : ''}" data-action="${name}"
      ${a.states.includes(state) ? '' : 'disabled'}>${a.label}</button>`)}
  </div>
  <div class="control-result" role="alert"></div>`;
}

export const ControlsView = Base.extend({
  className: 'card controls',
  events: { 'click button[data-action]': 'run' },

  initialize() {
    this.listenTo(this.model, 'change:rollout', this.render);
  },

  // Buttons enabled by the rollout's state (the server decides; this only avoids dead clicks).
  render() {
    const focused = this.$('button:focus').data('action');
    const result = this.$('.control-result').children().detach();
    this.$el.html(String(buttons(this.model.rolloutState())));
    this.$('.control-result').append(result);
    if (focused) this.$(`button[data-action="${focused}"]`).trigger('focus');
    return this;
  },

  // Confirm, send the control, report what happened.
  async run(event) {
    const name = $(event.currentTarget).data('action');
    const action = ACTIONS[name];
    const project = this.model.toJSON();
    const rollout = project.rollout || { waves: [], wave: 0 };
    if (!await confirmAction(action.title, action.text(project, rollout), action.label)) return;
    try {
      const summary = await this.model.control(name);
      this.$('.control-result').html('');
      flash(`${action.label}: the rollout is now ${summary ? labelOf('RolloutState', summary.state).toLowerCase() : 'updated'}.`);
    } catch (error) {
      const why = error.status === 409
        ? `The API refused to ${action.label.toLowerCase()}: ${humanize(error.message)}. The page shows the rollout's state as of the last refresh; it refreshes every few seconds.`
        : `${action.label} failed: ${error.message}${error.status ? ` (HTTP ${error.status})` : ''}`;
      this.$('.control-result').html($('<div class="alert conflict"></div>').text(why));
    }
    this.trigger('changed');
  },
});
