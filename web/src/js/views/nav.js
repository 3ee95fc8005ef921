// The top navigation: the pages, who is signed in, and sign out.
import { credentials, signOut } from '../session.js';

const TEMPLATE = _.template(`
  <ul>
  <% if (who) { %>
    <li><a href="#projects">Projects</a></li>
    <li><a href="#new">New project</a></li>
    <li><a href="#reports">Reports</a></li>
    <li class="who">Key <%- who %></li>
    <li><button type="button" class="sign-out">Sign out</button></li>
  <% } else { %>
    <li><a href="#signin">Sign in</a></li>
  <% } %>
  </ul>`);

export const NavView = Backbone.View.extend({
  events: { 'click .sign-out': 'signOut' },

  initialize() {
    this.listenTo(Backbone, 'session', this.render);
  },

  // Redraw for the current session.
  render() {
    const creds = credentials();
    this.$el.html(TEMPLATE({ who: creds ? creds.accessKeyId : null }));
    return this;
  },

  // Forget the key and go to the sign-in page.
  signOut() {
    signOut();
    Backbone.history.navigate('signin', { trigger: true });
  },
});
