// One row of a project's per-host view (target, running version, status, last report).
import { DRIFT, isFailedHost, SILENT } from '../status.js';

export const Host = Backbone.Model.extend({
  idAttribute: 'host',

  // The highlight a row gets: lost and failed first, then drift, then silence.
  flag() {
    const status = this.get('status');
    if (isFailedHost(status)) return status;
    if (this.get('drift')) return DRIFT;
    if (this.get('silent')) return SILENT;
    return '';
  },
});
