// The console's pages as hash routes (the site is static files in a bucket: no server routing).
import { credentials } from './session.js';
import { ProjectView } from './views/project.js';
import { ProjectFormView } from './views/project_form.js';
import { ProjectsView } from './views/projects.js';
import { ReportsView } from './views/reports.js';
import { SignInView } from './views/signin.js';

export const Router = Backbone.Router.extend({
  routes: {
    '': 'projects',
    projects: 'projects',
    new: 'create',
    'project/:id': 'project',
    'project/:id/edit': 'edit',
    reports: 'reports',
    signin: 'signin',
  },

  // Every page but sign-in needs credentials; remember where the user was going.
  execute(callback, args, name) {
    if (name !== 'signin' && !credentials()) {
      this.after = Backbone.history.getFragment();
      this.navigate('signin', { trigger: true, replace: true });
      return false;
    }
    if (callback) callback.apply(this, args);
    return true;
  },

  // Swap the page's view, removing the old one (which stops its polling).
  show(view, title) {
    if (this.current) this.current.remove();
    this.current = view;
    $('#main').empty().append(view.render().el);
    document.title = `${title} · fabu`;
    $('#main').trigger('focus');
  },

  projects() { this.show(new ProjectsView(), 'Projects'); },
  create() { this.show(new ProjectFormView({}), 'New project'); },
  // `#project/web?status=failed&page=2`: the host table's filters, sort and page.
  project(id, queryString) {
    if (this.current instanceof ProjectView && this.current.model.id === id) {
      this.current.table.setQuery(queryString);
      return;
    }
    this.show(new ProjectView({ projectId: id, queryString }), id);
  },
  edit(id) { this.show(new ProjectFormView({ projectId: id }), `Edit ${id}`); },
  reports() { this.show(new ReportsView(), 'Reports'); },

  signin() {
    const view = new SignInView();
    this.listenToOnce(view, 'signed-in', () => {
      const next = this.after && this.after !== 'signin' ? this.after : 'projects';
      this.after = null;
      this.navigate(next, { trigger: true });
    });
    this.show(view, 'Sign in');
  },
});
