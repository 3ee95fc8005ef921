// A project's per-host rows, kept in the project's host order; filled from hosts_view.
import { Host } from '../models/host.js';

export const Hosts = Backbone.Collection.extend({
  model: Host,

  // Hosts that need a look: lost, failed, drifted or silent.
  flagged() {
    return this.filter((host) => host.flag());
  },
});
