// Create or edit a project: every field of the API, the server's validation errors shown next
// to their fields, and an optimistic-lock conflict (409) explained with a way forward.
import { html } from '../html.js';
import { Project } from '../models/project.js';
import {
  changedFields, hookUrl, hostLines, lines, payloadFrom, SCRIPTS, splitLines, tagLines,
} from '../project_payload.js';
import { describeWaves, formatWaves, LAST_WAVE, parseWaves, validateWaves } from '../waves.js';
import { Base, describeLoadError, flash } from './ui.js';


// One labelled field. `path` is the API's field path: server errors are keyed by it.
function fieldHtml({ path, id, label, value, kind, hint, readonly, required, rows, options, preview }) {
  const describedBy = `${id}-hint ${preview ? `${id}-preview ` : ''}${id}-error`;
  let control;
  if (kind === 'textarea') {
    control = html`<textarea id="${id}" name="${path}" rows="${rows || 3}" aria-describedby="${describedBy}"
      spellcheck="false">${value}</textarea>`;
  } else if (kind === 'select') {
    control = html`<select id="${id}" name="${path}" aria-describedby="${describedBy}">
      ${options.map((o) => html`<option value="${o[0]}" ${o[0] === value ? 'selected' : ''}>${o[1]}</option>`)}
    </select>`;
  } else {
    control = html`<input id="${id}" name="${path}" type="${kind || 'text'}" value="${value}"
      aria-describedby="${describedBy}" spellcheck="false" autocapitalize="off"
      ${readonly ? 'readonly' : ''} ${required ? html`required aria-required="true"` : ''}>`;
  }
  return html`
  <div class="field" data-field="${path}">
    <label for="${id}">${label}</label>
    ${control}
    <p class="hint" id="${id}-hint">${hint || ''}</p>
    ${preview ? html`<p class="preview" id="${id}-preview" aria-live="polite"></p>` : ''}
    <p class="error" id="${id}-error" hidden></p>
  </div>`;
}

function idOf(path) {
  return `f-${path.replace(/[^a-z0-9]+/gi, '-')}`;
}

function field(path, label, value, extra = {}) {
  return fieldHtml({ path, id: idOf(path), label, value: value ?? '', kind: 'text', hint: '',
    readonly: false, required: false, rows: 3, options: [], preview: false, ...extra });
}

function check(path, label, value) {
  const id = idOf(path);
  return html`
  <div class="field check" data-field="${path}">
    <input id="${id}" name="${path}" type="checkbox" ${value ? 'checked' : ''}
      aria-describedby="${id}-error"><label for="${id}">${label}</label>
    <p class="error" id="${id}-error" hidden></p>
  </div>`;
}

// The project's rollout settings. GET /api/v1/project/{id} puts the rollout *summary* under
// `rollout`; its `settings` are the ones the current rollout runs with. Fields it lacks show
// their defaults and are sent only when the user changes them (see changedFields).
function rolloutSettings(p) {
  return p.rollout_settings || (p.rollout && p.rollout.settings) || {};
}


// The form's HTML for project `p` (empty for a new one).
function formHtml(p, isNew) {
  const r = p.rollout_spec || rolloutSettings(p);
  const s = p.source || {};
  const scripts = p.scripts || {};
  const notify = p.notify || {};
  const gates = p.gates || {};
  const fleet = p.fleet || {};
  return html`
  <form novalidate class="project-form">
    <div class="form-error alert error" role="alert" hidden></div>
    <div class="form-conflict alert conflict" role="alert" hidden></div>
    <p class="field-reference">Every field with its type, default and limits:
      <a href="docs/fields.html" target="_blank" rel="noopener">field reference</a>
      <span class="muted">(<code>docs/fields.md</code> in the repository)</span>.</p>
    <fieldset><legend>Project</legend><div class="grid">
      ${field('name', 'Name', p.name || p.id, { readonly: !isNew, required: true,
        hint: isNew ? 'A slug: lowercase letters, digits and -. It becomes the id.' : 'The id cannot change.' })}
      ${field('version', 'Version', p.version, { required: true, hint: 'e.g. 1.4.2, or a CI tag.' })}
      ${field('description', 'Description', p.description)}
      ${field('deploy_at', 'Deploy at (UTC)', p.deploy_at, { hint: 'Optional ISO 8601 time, e.g. 2026-12-01T09:30:00Z.' })}
      ${isNew ? '' : field('apply_at', 'Apply this update at (UTC)', '', { hint: 'Optional: schedule this change instead of applying it now, e.g. 2026-12-01T09:30:00Z.' })}
    </div>
      ${isNew ? '' : check('replace', p.pending ? `Replace the update already scheduled for ${p.pending.apply_at}`
        : 'Replace an update scheduled meanwhile (only one may wait)', false)}
      ${field('hosts', 'Hosts', hostLines(p.hosts), { kind: 'textarea', rows: 4,
        hint: 'One host per line: its name, then its zone if the waves should know it (web-1.example.com us-east-1a). May be empty when the project has a fleet.' })}
    </fieldset>
    <fieldset><legend>Fleet (EC2 instances found on every tick)</legend><div class="grid">
      ${field('fleet.ec2_tags', 'EC2 tags', tagLines(fleet.ec2_tags), { kind: 'textarea',
        hint: 'One Key=Value per line: running instances with all of these tags are hosts of the project.' })}
      ${field('fleet.autoscaling_groups', 'Auto Scaling groups', lines(fleet.autoscaling_groups), { kind: 'textarea',
        hint: 'One group name per line: their InService instances are hosts of the project.' })}
    </div></fieldset>
    <fieldset><legend>Source</legend><div class="grid">
      ${field('source.type', 'Source type', s.type || '', { kind: 'select', options: [['', 'none (CI uploads the artifact)'],
        ['git', 'git'], ['svn', 'svn'], ['ftp', 'ftp'], ['http', 'http'], ['s3', 's3']] })}
      ${field('source.url', 'Source URL', s.url)}
      ${field('source.ref', 'Ref (tag, branch, commit)', s.ref)}
      ${field('source.credentials', 'Credentials reference', s.credentials, { hint: 'ssm:/path or secretsmanager:name' })}
      ${field('ci_server', 'CI server', p.ci_server)}
    </div></fieldset>
    <fieldset><legend>Dependencies</legend><div class="grid">
      ${field('deb_dependencies', 'Debian packages', lines(p.deb_dependencies), { kind: 'textarea', hint: 'One per line, e.g. nginx (>= 1.18)' })}
      ${field('depends_on', 'Depends on projects', lines((p.depends_on || []).map((d) => `${d.project} ${d.version || ''}`.trim())),
        { kind: 'textarea', hint: 'One per line: project and version, e.g. db >=2.0' })}
    </div></fieldset>
    <fieldset><legend>Scripts</legend><div class="grid">
      ${SCRIPTS.map(([name, label, hint]) => field(`scripts.${name}`, label, scripts[name], { kind: 'textarea', hint }))}
    </div></fieldset>
    <fieldset><legend>Rollout</legend><div class="grid">
      ${field('rollout.waves', 'Waves', formatWaves(r.waves || [LAST_WAVE]), { preview: true,
        hint: 'Cumulative host counts and percentages, the last one 100%: 1, 50, 100% is 1 host, then 50 hosts, then all.' })}
      ${field('rollout.bake_seconds', 'Bake time (seconds)', r.bake_seconds ?? 0)}
      ${field('rollout.max_failures', 'Failures allowed', r.max_failures ?? 0, { hint: 'A count or a percentage.' })}
      ${field('rollout.canary_hosts', 'Canary hosts', (r.canary_hosts || []).join(', '), { hint: 'Comma-separated; they go first.' })}
      ${field('rollout.deploy_timeout', 'Deploy timeout (seconds)', r.deploy_timeout ?? 1800)}
      ${field('rollout.max_parallel', 'Max parallel hosts (0 = no limit)', r.max_parallel ?? 0)}
      ${field('rollout.health_timeout', 'Health timeout (seconds)', r.health_timeout ?? 60)}
      ${field('rollout.keep_releases', 'Releases kept on hosts', r.keep_releases ?? 5)}
      ${field('rollout.rollback_mode', 'Rollback mode', r.rollback_mode || 'all', { kind: 'select',
        options: [['all', 'all hosts at once'], ['waves', 'wave by wave']] })}
    </div>
      ${check('rollout.auto_promote', 'Promote to the next wave automatically', r.auto_promote ?? true)}
      ${check('rollout.auto_rollback', 'Roll back automatically when failures exceed the limit', r.auto_rollback ?? true)}
    </fieldset>
    <fieldset><legend>Notifications and gates</legend><div class="grid">
      ${field('notify.sns_topic_arn', 'SNS topic ARN', notify.sns_topic_arn)}
      ${field('notify.webhooks', 'Webhook URLs', lines((notify.webhooks || []).map(hookUrl)), { kind: 'textarea', hint: 'One per line.' })}
      ${field('gates.before_wave', 'Gate before each wave (URL)', hookUrl(gates.before_wave))}
      ${field('gates.after', 'Gate after the rollout (URL)', hookUrl(gates.after))}
    </div></fieldset>
    <div class="actions">
      <button type="submit">${isNew ? 'Create project' : 'Save changes'}</button>
      <a class="button secondary" href="${isNew ? '#projects' : `#project/${encodeURIComponent(p.id)}`}">Cancel</a>
    </div>
  </form>`;
}

// "hosts[1]" in a one-per-line field is "line 2"; other sub-paths are named as the API names them.
function describePath(path, box, message) {
  const field = box.data('field');
  if (path === field) return message;
  const line = path.slice(field.length).match(/^\[(\d+)\]$/);
  if (line && box.find('textarea').length) return `line ${Number(line[1]) + 1}: ${message}`;
  return `${path}: ${message}`;
}

export const ProjectFormView = Base.extend({
  events: {
    'submit form': 'submit',
    'click .reload-latest': 'reloadLatest',
    'input [name="rollout.waves"], [name=hosts]': 'previewWaves',
  },

  // Under the wave field: what the waves mean for the hosts listed, or what the API will say
  // about them (the same rules: waves.js).
  previewWaves() {
    const box = this.$('#f-rollout-waves-preview');
    if (!box.length) return;
    const waves = parseWaves(this.$('[name="rollout.waves"]').val());
    const hosts = splitLines(this.$('[name=hosts]').val() || '').length;
    const problems = validateWaves(waves, hosts);
    const text = Object.keys(problems).length
      ? Object.entries(problems).map(([path, message]) => describePath(path, this.fieldFor(path), message)).join(' · ')
      : describeWaves(waves, hosts);
    box.text(text).toggleClass('warn', Object.keys(problems).length > 0);
  },

  initialize({ projectId }) {
    this.isNew = !projectId;
    this.model = new Project(projectId ? { id: projectId } : {});
  },

  // New: draw the empty form. Edit: load the project first.
  render() {
    const title = this.isNew ? 'New project' : `Edit ${this.model.id}`;
    this.$el.html(`<h1>${_.escape(title)}</h1><div class="form-slot card"><p class="muted">Loading…</p></div>`);
    if (this.isNew) {
      this.draw();
    } else {
      this.model.fetch().then(() => this.draw(), (error) => this.$('.form-slot')
        .html($('<div class="alert error" role="alert"></div>').text(describeLoadError(error, 'Could not load the project'))));
    }
    return this;
  },

  // Draw the form for the model and remember what it showed (the base of an update's diff).
  draw() {
    this.$('.form-slot').html(String(formHtml(this.model.toJSON(), this.isNew)));
    this.previewWaves();
    this.initial = this.values();
  },

  // The request body: everything for a create; only the user's changes for an update.
  body() {
    const values = this.values();
    const previous = this.model.toJSON();
    const body = payloadFrom(values, previous, this.isNew);
    if (this.isNew) return body;
    const changes = changedFields(body, payloadFrom(this.initial, previous, false));
    if (values.apply_at && values.apply_at.trim()) changes.apply_at = values.apply_at.trim();
    if (changes.apply_at && values.replace === 'on') changes.replace = true;
    return changes;
  },

  values() {
    const form = this.$('form')[0];
    const values = Object.fromEntries(new FormData(form));
    for (const box of form.querySelectorAll('input[type=checkbox]')) values[box.name] = box.checked ? 'on' : '';
    return values;
  },

  // Send the form; a 400 marks fields, a 409 explains the conflict.
  async submit(event) {
    event.preventDefault();
    this.clearErrors();
    const body = this.body();
    const button = this.$('button[type=submit]').prop('disabled', true);
    try {
      await this.model.save(null, { attrs: body, wait: true });
      flash(this.isNew ? `Project ${this.model.id} created.` : `Project ${this.model.id} saved.`);
      Backbone.history.navigate(`project/${encodeURIComponent(this.model.id)}`, { trigger: true });
    } catch (error) {
      this.showError(error);
    } finally {
      button.prop('disabled', false);
    }
  },

  clearErrors() {
    this.$('.field').removeClass('invalid');
    this.$('.field .error').prop('hidden', true).text('');
    this.$('[aria-invalid]').removeAttr('aria-invalid');
    this.$('.form-error, .form-conflict').prop('hidden', true).empty();
    this.$('.form-error').removeClass('info').addClass('error');
  },

  // The field a server path belongs to: "rollout.waves[2]" → rollout.waves, "hosts[3]" → hosts.
  fieldFor(path) {
    let key = path;
    while (key) {
      const found = this.$(`.field[data-field="${CSS.escape(key)}"]`);
      if (found.length) return found;
      const shorter = key.replace(/(\[\d+\]|\.[^.[\]]+)$/, '');
      if (shorter === key) break;
      key = shorter;
    }
    return $();
  },

  showError(error) {
    if (error.status === 409 && error.body.scheduled) {
      // Another update already waits: say which, under "Apply this update at".
      this.showFieldErrors({ ...error, fields: { apply_at: `${error.fields.apply_at || error.message}` +
        ' — tick "Replace…" below to replace it, or cancel it on the project page.' } });
      return;
    }
    if (error.status === 409) {
      this.$('.form-conflict').html(
        `<p><strong>Someone changed this project while you were editing it.</strong> ` +
        `${_.escape(error.message)}</p><p>Your edits are still in the form. Load the latest ` +
        `revision (this keeps what you typed), check it, and save again.</p>` +
        '<button type="button" class="secondary reload-latest">Load the latest revision</button>')
        .prop('hidden', false);
      this.$('.form-conflict button').trigger('focus');
      return;
    }
    this.showFieldErrors(error);
  },

  // Each API field error under its field; the rest, and a count, at the top of the form.
  showFieldErrors(error) {
    const unplaced = [];
    for (const [path, message] of Object.entries(error.fields || {})) {
      const box = this.fieldFor(path);
      if (!box.length) { unplaced.push(`${path || 'body'}: ${message}`); continue; }
      const shown = box.find('.error');
      const text = describePath(path, box, message);
      shown.text(shown.text() ? `${shown.text()} · ${text}` : text).prop('hidden', false);
      box.addClass('invalid').find('input, textarea, select').attr('aria-invalid', 'true');
    }
    const count = Object.keys(error.fields || {}).length;
    const summary = count ? `The API found ${count} problem${count > 1 ? 's' : ''}; see the marked fields.`
      : `${error.message}${error.status ? ` (HTTP ${error.status})` : ''}`;
    this.$('.form-error').text([summary, ...unplaced].join(' ')).prop('hidden', false);
    this.$('[aria-invalid]').first().trigger('focus');
  },

  // After a conflict: redraw the form from the newest revision with the user's edits on top,
  // so a save applies exactly those edits (with the new ETag) and keeps the other person's.
  async reloadLatest() {
    const edits = this.body();
    const fresh = new Project({ id: this.model.id });
    try {
      await fresh.fetch();
    } catch (error) {
      this.showError(error);
      return;
    }
    this.model.set(fresh.attributes);
    this.draw();
    const merged = { ...fresh.toJSON(), ..._.omit(edits, 'rollout', 'apply_at', 'replace'),
      rollout_spec: { ...rolloutSettings(fresh.toJSON()), ...(edits.rollout || {}) } };
    this.$('.form-slot').html(String(formHtml(merged, false)));
    this.previewWaves();
    if (edits.apply_at) this.$('[name=apply_at]').val(edits.apply_at);
    const changed = Object.keys(_.omit(edits, 'apply_at', 'replace'));
    this.$('.form-error').removeClass('error').addClass('info')
      .text(`Loaded revision ${fresh.get('rev')} (updated by ${fresh.get('updated_by') || 'someone'}). ` +
        `Your edits are kept${changed.length ? ` (${changed.join(', ')})` : ''}; saving now applies ` +
        'them on top of it.').prop('hidden', false);
    this.$('.form-error').attr('tabindex', '-1').trigger('focus');
  },
});
