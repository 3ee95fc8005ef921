// Boot: install the signed Backbone.sync, draw the navigation, start the router.
import './sync.js';
import { Router } from './router.js';
import { NavView } from './views/nav.js';

window.addEventListener('fabu:session', () => Backbone.trigger('session'));
new NavView({ el: '#nav' }).render();
window.fabuRouter = new Router();
Backbone.history.start();
