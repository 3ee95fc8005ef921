// The top navigation: the pages, who is signed in, and sign out.
import { html } from '../html.js';
import { credentials, signOut } from '../session.js';

function links(who) {
  if (!who) return html`<ul><li><a href="#signin">Sign in</a></li></ul>`;
  return html`
  <ul>
    <li><a href="#projects">Projects</a></li>
    <li><a href="#new">New project</a></li>
    <li><a href="#reports">Reports</a></li>
    <li class="who" title="${who.temporary ? 'Temporary credentials (session token)' : 'Long-lived access key'}">Key ${who.accessKeyId}${
      who.temporary ? ' (temporary)' : ''}</li>
    <li><button type="button" class="sign-out">Sign out</button></li>
  </ul>`;
}

export const NavView = Backbone.View.extend({
  events: { 'click .sign-out': 'signOut' },

  initialize() {
    this.listenTo(Backbone, 'session', this.render);
  },

  // Redraw for the current session.
  render() {
    const creds = credentials();
    this.$el.html(String(links(creds && { accessKeyId: creds.accessKeyId,
      temporary: Boolean(creds.sessionToken) })));
    return this;
  },

  // Forget the credentials and go to the sign-in page.
  signOut() {
    signOut();
    Backbone.history.navigate('signin', { trigger: true });
  },
});
