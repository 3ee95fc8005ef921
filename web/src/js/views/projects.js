// The projects page: one row per project (name, version, rollout state, progress); each row
// re-renders only when its own project changed on a refresh.
import { Projects } from '../collections/projects.js';
import { ReleaseState } from '../status.js';
import { Base, badge, describeLoadError, poll, progressBar, progressText, timeTag } from './ui.js';

const ROW = _.template(`
  <td><a href="#project/<%- encodeURIComponent(p.id) %>"><%- p.id %></a>
    <% if (p.description) { %><div class="muted"><%- p.description %></div><% } %></td>
  <td><%- p.version %></td>
  <td><%= badge(state) %>
    <% if (release) { %><%= badge(release, 'release ' + release) %><% } %></td>
  <td class="progress-cell"><%= bar %><span class="progress-label"><%- text %></span></td>
  <td class="opt"><%= timeTag(p.updated_at) %></td>`);

const PAGE = `
  <h1>Projects</h1>
  <div class="load-error alert error" role="alert" hidden></div>
  <div class="table-wrap card">
    <table class="projects">
      <caption class="muted" style="text-align:left">Refreshed every few seconds.</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Rollout</th>
        <th scope="col">Progress</th><th scope="col" class="opt">Updated</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty muted" hidden>No projects yet. <a href="#new">Create one</a>.</p>
  </div>`;

// One project's row.
const ProjectRowView = Backbone.View.extend({
  tagName: 'tr',

  initialize() {
    this.listenTo(this.model, 'change', this.render);
  },

  // Draw the row; counted in data-renders so a test can see what a refresh redrew.
  render() {
    const overall = this.model.overall();
    const p = this.model.toJSON();
    this.$el.attr({ 'data-project': p.id, 'data-renders': (Number(this.$el.attr('data-renders')) || 0) + 1 });
    // A release that is not ready yet (or failed) gets its own badge.
    const release = p.release && p.release.state !== ReleaseState.READY ? p.release.state : null;
    this.$el.html(ROW({ p, state: this.model.rolloutState(), release, badge, timeTag,
      bar: progressBar(overall, `Rollout progress of ${p.id}`), text: progressText(overall) }));
    return this;
  },
});

export const ProjectsView = Base.extend({
  initialize() {
    this.collection = new Projects();
    this.rows = {};
    this.listenTo(this.collection, 'add', this.addRow);
    this.listenTo(this.collection, 'remove', this.removeRow);
    this.listenTo(this.collection, 'sort update', this.order);
  },

  // Draw the page once, then keep the rows in step with the API.
  render() {
    this.$el.html(PAGE);
    poll(this, async () => {
      await this.collection.fetch();
      this.$('.load-error').prop('hidden', true);
      this.$('.empty').prop('hidden', this.collection.length > 0);
    }, (error) => this.$('.load-error').text(describeLoadError(error, 'Could not load the projects'))
      .prop('hidden', false));
    return this;
  },

  addRow(project) {
    this.rows[project.cid] = new ProjectRowView({ model: project }).render();
  },

  removeRow(project) {
    this.rows[project.cid].remove();
    delete this.rows[project.cid];
  },

  // Keep the rows in the collection's order (moving a node does not redraw it).
  order() {
    const body = this.$('tbody');
    this.collection.each((project) => body.append(this.rows[project.cid].el));
  },

  remove() {
    _.invoke(Object.values(this.rows), 'remove');
    return Base.prototype.remove.call(this);
  },
});
