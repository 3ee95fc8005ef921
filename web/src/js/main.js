// Boot: install the signed Backbone.sync, draw the navigation and the stage's freeze banner,
// start the router and the one clock that keeps relative times and countdowns current.
import './sync.js';
import { Router } from './router.js';
import { startClock } from './times.js';
import { FreezeView } from './views/freeze.js';
import { NavView } from './views/nav.js';

window.addEventListener('fabu:session', () => Backbone.trigger('session'));
window.addEventListener('fabu:expired', () => Backbone.history.navigate('signin', { trigger: true }));
startClock();
new NavView({ el: '#nav' }).render();
new FreezeView({ el: '#freeze' }).load();
window.fabuRouter = new Router();
Backbone.history.start();
